"""The quantity read model's `apply`, read back through `quantity_queries`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.quantity.projection import QuantityProjection
from projections.quantity.queries import quantity_points
from tests.projections.unit.helpers import Apply, Log, iso, read_model


@pytest.fixture
def quantity(tmp_path: Path, log: Log) -> Iterator[QuantityProjection]:
    with read_model(QuantityProjection, tmp_path, log) as projection:
        yield projection


def point(
    minute: int, version: int, quantity: Any, delta: Any, quantity_diff: Any = None
) -> dict[str, Any]:
    return {
        "sourceTimestamp": iso(minute),
        "version": version,
        "quantity": quantity,
        "delta": delta,
        "quantityDiff": quantity_diff,
    }


def test_points_skip_unchanged_and_missing_quantities(
    quantity: QuantityProjection, log: Log, apply: Apply
) -> None:
    apply(
        quantity,
        [
            log.change(7, 0, quantity=100, quantityDiff=0),
            log.change(7, 10, quantity=80, quantityDiff=-20),
            # Equal as JSON numbers: a new version but no new point.
            log.change(7, 20, quantity=80.0, name="Pista"),
            # No quantity at all: no point, and the next delta still counts from 80.
            log.change(7, 30, name="Pista"),
            log.change(7, 40, quantity=120),
        ],
    )

    assert quantity_points(quantity.view, 7) == [
        point(0, 1, 100, None, 0),
        point(10, 2, 80, -20, -20),
        point(40, 5, 120, 40),
    ]
    assert quantity_points(quantity.view, 8) is None


def test_a_late_delivery_lands_between_its_neighbours(
    quantity: QuantityProjection, log: Log, apply: Apply
) -> None:
    apply(
        quantity,
        [
            log.change(7, 0, quantity=100),
            log.change(7, 10, quantity=80),
            log.change(7, 30, quantity=80),
            log.change(7, 20, quantity=90, quantityDiff=10),
        ],
    )

    # The late 90 makes the version after it (80 again) a change of its own.
    assert quantity_points(quantity.view, 7) == [
        point(0, 1, 100, None),
        point(10, 2, 80, -20),
        point(20, 4, 90, 10, 10),
        point(30, 3, 80, -10),
    ]


def test_a_ticket_without_quantity_has_no_points_until_one_arrives(
    quantity: QuantityProjection, log: Log, apply: Apply
) -> None:
    apply(quantity, [log.change(7, 0, name="no quantity yet")])
    assert quantity_points(quantity.view, 7) == []

    apply(quantity, [log.change(7, 10, quantity=2**70)])
    assert quantity_points(quantity.view, 7) == [point(10, 2, 2**70, None)]
