"""Storage of the log: eventsourcing's recorders, extended to write the chain and the
delivery index in the same transaction as the events they describe."""
