"""The read benchmark's one failure: it cannot give an honest number."""


class BenchFailed(RuntimeError):
    """The benchmark cannot give an honest number: an endpoint failed, a tool is missing."""
