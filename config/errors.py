"""Django's error views (config/urls.py's handler400, 403, 404 and 500, and
CSRF_FAILURE_VIEW): the API's error body under /api/ (config/renderers.error_response),
the site's own pages elsewhere.

Django answers with these when no view answered: an unknown route, a request it refused
before any view ran (a Host header not in ALLOWED_HOSTS, too many fields), an exception no
one caught. DRF views answer their own errors (config/exceptions.py) and only reach these
through an exception DRF does not handle. Under DEBUG, Django shows its technical 404 and
500 pages instead, for the developer.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.views import csrf, defaults

from config.exceptions import bad_request_detail
from config.renderers import error_response, is_api_request


def _message(exception: Exception) -> str:
    """The exception's message, when it has one meant for people (a Resolver404 carries a
    dict of the routes tried: not for clients)."""
    first = exception.args[0] if exception.args else ""
    return first if isinstance(first, str) else ""


def bad_request(request, exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(request, bad_request_detail(exception), 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(request, _message(exception) or "Permission denied.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(request, _message(exception) or "Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request) -> HttpResponse:
    if is_api_request(request):
        return error_response(request, "Server error: it is logged; try again later.", 500)
    return defaults.server_error(request)


def csrf_failure(request, reason: str = "") -> HttpResponse:
    if is_api_request(request):
        return error_response(request, f"CSRF verification failed: {reason}", 403)
    return csrf.csrf_failure(request, reason)
