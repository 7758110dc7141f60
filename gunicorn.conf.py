"""gunicorn's settings for the web app: read from the working directory when gunicorn
starts (the Docker image's and `bench_reads`'s); flags on the command line win.

Sync workers, one request each at a time, so a slow client must not hold one for long:
- a body over MAX_REQUEST_BODY_BYTES is refused (413) before any of it is read
  (config/middleware.py);
- a body that stops arriving for GUNICORN_BODY_TIMEOUT seconds (10) ends the request with
  a 408, the worker free again at once;
- a worker that answers nothing for GUNICORN_TIMEOUT seconds (30; a request stuck on a
  dependency) is killed and replaced.
In production put a buffering proxy in front (nginx, a cloud load balancer): it takes slow
clients' bodies whole, so workers only ever read from a fast local connection.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY sets the number of workers (gunicorn reads it itself; 1 by default).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# gunicorn's own request-head limits, stated: a request line of 4 KB, 100 headers of 8 KB.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

BODY_TIMEOUT = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "10"))


def pre_request(worker, req):
    """Bound each wait for more of the body (and each send of the answer): a read that
    waits past BODY_TIMEOUT fails, which the app answers with a 408."""
    sock = getattr(req.unreader, "sock", None)
    if sock is not None:
        sock.settimeout(BODY_TIMEOUT)
