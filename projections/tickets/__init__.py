"""The tickets read model: current state, summaries and the hierarchy."""
