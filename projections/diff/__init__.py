"""Field-level changes between two JSON documents: the diff rules of the change feed."""
