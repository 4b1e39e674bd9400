"""The history read model: every version with its changes, and the change feed."""
