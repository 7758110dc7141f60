class BenchFailed(RuntimeError):
    """The push benchmark could not measure (a server or a client failed, or too few
    subscribers connected)."""
