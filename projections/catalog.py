"""Every read model the service keeps, by the name the API and `rebuild` use."""

from __future__ import annotations

from projections.base import TicketProjection
from projections.tickets import TicketsProjection

CATALOG: dict[str, type[TicketProjection]] = {
    TicketsProjection.name: TicketsProjection,
}
