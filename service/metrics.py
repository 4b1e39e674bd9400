"""Prometheus metrics of one service instance (a registry per app keeps tests independent)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "ticket_audit_deliveries",
            "Webhook deliveries by the outcome the sender was answered",
            ["outcome"],
            registry=self.registry,
        )
        self.intake_latency = Histogram(
            "ticket_audit_intake_latency_seconds",
            "Time from a delivery's arrival to its answer",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.commit_batch_size = Histogram(
            "ticket_audit_commit_batch_size",
            "Deliveries judged together in one log transaction",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
            registry=self.registry,
        )
        # Each outcome's counter, found once: `labels()` checks and locks on every call.
        self._by_outcome: dict[str, Counter] = {}
        self.intake_waiting = Gauge(
            "ticket_audit_intake_waiting_deliveries",
            "Deliveries waiting for the log writer (bounded by TICKET_AUDIT_INTAKE_QUEUE_*)",
            registry=self.registry,
        )
        self.intake_writing = Gauge(
            "ticket_audit_intake_writing_deliveries",
            "Deliveries in the log transaction being written now",
            registry=self.registry,
        )
        self.storage_down = Gauge(
            "ticket_audit_storage_down",
            "1 while deliveries are refused because storage failed, until a probe write passes",
            registry=self.registry,
        )
        # Read from the quarantine store at each scrape (see `bootstrap.opened_write_side`).
        self.quarantine_dropped = Gauge(
            "ticket_audit_quarantine_dropped",
            "Quarantined deliveries ever dropped, oldest first, to keep the quarantine within "
            "TICKET_AUDIT_QUARANTINE_MAX_ROWS (kept in storage across restarts)",
            registry=self.registry,
        )
        self.projection_parked = Gauge(
            "ticket_audit_projection_parked",
            "Events a projection could not apply and parked; its tickets answer as stale",
            ["projection"],
            registry=self.registry,
        )

    def delivery_answered(self, outcome: str, seconds: float) -> None:
        counter = self._by_outcome.get(outcome)
        if counter is None:
            counter = self._by_outcome[outcome] = self.deliveries.labels(outcome)
        counter.inc()
        self.intake_latency.observe(seconds)
