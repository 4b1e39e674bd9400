"""Past snapshots looked up in the log by position, as queries and history's late deliveries
read them: the body as delivered, and nothing for a position the log does not hold."""

from __future__ import annotations

from projections.runtime.log_reader import LogSnapshots
from tests.helpers import Serve, make_settings
from tests.projections.helpers import EARLY, LATE, MIDDLE, TicketApi, opened, record


async def test_the_log_hands_back_each_positions_data_and_nothing_beyond_its_head(
    serve: Serve, database_url: str
) -> None:
    api = TicketApi(await serve(make_settings(database_url)))
    bodies = [
        {"id": 7, "name": "Pista", "quantity": 10},
        {"id": 8, "name": "Camarote", "value": {"price": 120.5}},
        {"id": 7, "name": "Pista", "quantity": 9, "salePeriods": [{"id": 1}]},
    ]
    positions = [
        await record(api, body, moment)
        for body, moment in zip(bodies, (EARLY, MIDDLE, LATE), strict=True)
    ]
    await api.client.close()

    with opened(database_url) as (log, _):
        found = LogSnapshots(log).snapshots_at([*reversed(positions), api.head + 1, 0])

    assert found == dict(zip(reversed(positions), reversed(bodies), strict=True))
