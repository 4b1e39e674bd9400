"""What runs the read models: following the log, leading, rebuilding, the worker process."""
