"""The quantity read model: one point per change of a ticket's quantity."""
