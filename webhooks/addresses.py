"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

A URL is checked when it is registered and again before every attempt (a DNS name can
change what it points at), and the attempt connects to the very address that was checked
(transport.py), so a name cannot resolve to a public address for the check and to a
private one for the connection. Refused: loopback, private, shared (100.64/10), link-local,
multicast, reserved and unspecified addresses, IPv4 and IPv6, including IPv4 addresses
embedded in IPv6 ones (mapped ::ffff:0:0/96, 6to4, Teredo, NAT64 64:ff9b::/96). If any
address of a name is refused, the name is. WEBHOOK_ALLOW_PRIVATE_NETWORKS turns the
address rule off (tests, receivers on the same network); the URL rules stay.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """A URL a webhook may not be sent to; the message says why, for the client."""


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to (`address`) and what to tell the server (the URL's
    host, for the Host header, TLS's server name and certificate check)."""

    url: str  # without the fragment
    scheme: str
    host: str  # as in the URL, IDNA-encoded, IPv6 without brackets
    port: int
    address: str  # the checked IP address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def url_check(url: str) -> SplitResult:
    """The URL's parts, if its form is one a webhook may use; UnsafeUrl otherwise."""
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise UnsafeUrl("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("Not a valid URL.") from exc
    if parts.scheme not in SCHEMES:
        raise UnsafeUrl("Only http and https URLs are accepted.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL may not carry a user name or password.")
    if port == 0:
        raise UnsafeUrl("Not a valid URL.")
    _idna(parts.hostname)
    return parts


def target_resolve(url: str, *, allow_private: bool) -> Target:
    """Check the URL, resolve its host and check every address; the Target connects to
    the first. UnsafeUrl when the URL or any address is refused, or the host does not
    resolve."""
    parts = url_check(url)
    host = _idna(parts.hostname or "")
    port = parts.port or SCHEMES[parts.scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {host!r} does not resolve.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"The host {host!r} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                raise UnsafeUrl(
                    f"The host {host!r} resolves to {address}, {reason}: webhooks go to "
                    "public addresses only."
                )
    return Target(
        url=parts._replace(fragment="").geturl(),
        scheme=parts.scheme,
        host=host,
        port=port,
        address=addresses[0],
    )


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not go to this address (a few words), or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded)
            if reason is not None:
                return f"{reason} (embedded in IPv6)"
    for reason, refused in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    ):
        if refused:
            return reason
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _idna(host: str) -> str:
    """The host as DNS sees it (a Unicode name IDNA-encoded), or UnsafeUrl."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeUrl("The URL's host is not a valid domain name.") from exc
