"""Every read model the service keeps, by the name the API and `rebuild` use."""

from __future__ import annotations

from projections.base import TicketProjection
from projections.history import HistoryProjection
from projections.quantity import QuantityProjection
from projections.sale_periods import SalePeriodsProjection
from projections.tickets import TicketsProjection

CATALOG: dict[str, type[TicketProjection]] = {
    TicketsProjection.name: TicketsProjection,
    HistoryProjection.name: HistoryProjection,
    QuantityProjection.name: QuantityProjection,
    SalePeriodsProjection.name: SalePeriodsProjection,
}
