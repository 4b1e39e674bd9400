"""Every read model the service keeps, by the name the API and `rebuild` use."""

from __future__ import annotations

from projections.history.projection import HistoryProjection
from projections.quantity.projection import QuantityProjection
from projections.read_model import TicketProjection
from projections.sale_periods.projection import SalePeriodsProjection
from projections.tickets.projection import TicketsProjection

CATALOG: dict[str, type[TicketProjection]] = {
    TicketsProjection.name: TicketsProjection,
    HistoryProjection.name: HistoryProjection,
    QuantityProjection.name: QuantityProjection,
    SalePeriodsProjection.name: SalePeriodsProjection,
}
