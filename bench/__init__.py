"""`make bench`: the service measured side by side with a naive receiver (see BENCHMARKS.md)."""
