"""Run at start-up by every Python process whose PYTHONPATH holds this folder (Python imports
a `sitecustomize` module when it finds one), so that a test can put a fault in the processes
it starts, `serve`'s worker included, and nowhere else.

With TEST_REFUSING_READ_MODELS=NAME[,NAME...], those read models refuse the events marked for
them (`tests/projections/faults.py`, which needs the repository's root on PYTHONPATH too).
With TEST_FLAKY_READ_MODELS=NAME[,NAME...], those fail once on storage at each event marked
for them, in each process.
"""

from __future__ import annotations

import os

_refusing = os.environ.get("TEST_REFUSING_READ_MODELS")
if _refusing:
    from tests.projections.faults import refuse_in_catalog

    refuse_in_catalog(_refusing.split(","))

_flaky = os.environ.get("TEST_FLAKY_READ_MODELS")
if _flaky:
    from tests.projections.faults import fail_once_in_catalog

    fail_once_in_catalog(_flaky.split(","))
