"""Sale periods: each version's `salePeriods` list, as delivered, with its place in time.

Timelines are derived when read, walking versions in source-time order, so a late delivery
takes its place among the others without rewriting any stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from projections.read_model import DeliveredFieldsPerVersion


class SalePeriodsProjection(DeliveredFieldsPerVersion):
    name = "sale_periods"
    kept: ClassVar[Sequence[tuple[str, str]]] = (("sale_periods", "salePeriods"),)
