"""Each unit test applies its changes both ways a follower can: a batch holding them all, and
one batch per change, since a read model decides within a batch from what it holds in
memory and across batches from its tables."""

from __future__ import annotations

import pytest

from tests.projections.unit.helpers import Apply, Log, apply_apart, apply_together


@pytest.fixture(params=[apply_together, apply_apart], ids=["one-batch", "batch-each"])
def apply(request: pytest.FixtureRequest) -> Apply:
    chosen: Apply = request.param
    return chosen


@pytest.fixture
def log() -> Log:
    return Log()
