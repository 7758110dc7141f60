"""One HTTP POST of a delivery, to the address addresses.py checked.

requests (urllib3 below it) connects to `Target.address` while the request keeps the URL's
host in its Host header and, over HTTPS, in TLS's server name and the certificate check:
the connection goes where the check said, whatever DNS answers a moment later. No proxies
from the environment (they would connect elsewhere), no redirects (a 3xx is an answer
like any other non-2xx, and following it would skip the check), and the answer's body is
not read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import requests
from requests.adapters import HTTPAdapter

from webhooks.addresses import Target
from webhooks.models import ERROR_MAX_LENGTH

if TYPE_CHECKING:  # the stubs' names for what urllib3's pool is keyed on
    from requests.adapters import _HostParams, _PoolKwargs


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedAdapter(HTTPAdapter):
    """Connects to one address whatever the URL's host (documented as the way to change
    urllib3's pool parameters: HTTPAdapter.build_connection_pool_key_attributes)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            tls = cast("dict[str, Any]", pool_kwargs)  # urllib3 takes these; the stubs omit them
            tls["server_hostname"] = tls["assert_hostname"] = self.target.host
        host_params["host"] = self.target.address
        return host_params, pool_kwargs


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> AttemptOutcome:
    """POST `body` to the target; the outcome says the answer's status or what went
    wrong. Never raises for the network's or the receiver's failures."""
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    with requests.Session() as session:
        session.trust_env = False
        session.mount(f"{target.scheme}://", _PinnedAdapter(target))
        try:
            response = session.post(
                target.url,
                data=body,
                headers={**headers, "Host": target.host_header},
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            error = f"No answer within {timeout:g} s."
        except requests.exceptions.SSLError as exc:
            error = f"TLS failed: {_first_line(exc)}"
        except requests.ConnectionError as exc:
            error = f"Could not connect: {_first_line(exc)}"
        except requests.RequestException as exc:
            error = f"Request failed: {_first_line(exc)}"
        else:
            status_code = response.status_code
            response.close()
            if not 200 <= status_code < 300:
                error = f"Answered {status_code}."
    duration_ms = round((time.monotonic() - started) * 1000)
    return AttemptOutcome(status_code, error[:ERROR_MAX_LENGTH], duration_ms)


def _first_line(exc: Exception) -> str:
    """An exception's reason, short: requests nests urllib3's, which repeats the URL."""
    reason: BaseException = exc
    while reason.args and isinstance(reason.args[0], BaseException):
        reason = reason.args[0]
    reason = getattr(reason, "reason", None) or reason
    return str(reason).splitlines()[0] if str(reason) else type(reason).__name__
