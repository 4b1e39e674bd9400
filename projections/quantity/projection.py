"""Quantity history: each version's `quantity` and Ingresse's `quantityDiff`, as delivered.

Rows are kept per version, not per change: the points are derived when read, in source-time
order, so a late delivery lands between its neighbours without rewriting any stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from projections.read_model import DeliveredFieldsPerVersion


class QuantityProjection(DeliveredFieldsPerVersion):
    name = "quantity"
    kept: ClassVar[Sequence[tuple[str, str]]] = (
        ("quantity", "quantity"),
        ("quantity_diff", "quantityDiff"),
    )
