"""Settings from the environment, read strictly (config/settings/ uses these).

A value a helper cannot read stops start-up with ImproperlyConfigured naming the variable,
the value and what would do, rather than quietly meaning something else (`DJANGO_DEBUG=ture`
used to mean off). An unset or empty (or all-blank) variable means the default.

Nothing here imports Django's settings or an app: the settings module imports this one.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _value(name: str) -> str | None:
    """The variable, stripped; None when it is unset or blank."""
    return os.environ.get(name, "").strip() or None


def env_bool(name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off, in any case."""
    value = _value(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    accepted = ", ".join(f"{yes}/{no}" for yes, no in zip(TRUE_WORDS, FALSE_WORDS, strict=True))
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use {accepted}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """A whole number (in decimal), no less than `minimum` when one is given."""
    value = _value(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not an integer: use whole digits, e.g. {default}."
        ) from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} is too small: use {minimum} or more.")
    return number


def env_list(name: str, default: Sequence[str]) -> list[str]:
    """Comma-separated items, each stripped; empty items are skipped."""
    value = _value(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: Sequence[str]) -> str:
    """One of `choices`, in any case; returned spelled as in `choices`."""
    value = _value(name)
    if value is None:
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")


_RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")


def env_rate(name: str, default: str | None) -> str | None:
    """A rate limit as DRF reads it (N/second, N/minute, N/hour or N/day), or None for
    off (or 0)."""
    value = _value(name)
    if value is None:
        return default
    if value.lower() in ("off", "0"):
        return None
    if not _RATE.fullmatch(value.lower()):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: use N/second, N/minute, N/hour or N/day "
            "(e.g. 1200/minute), or off."
        )
    return value.lower()


def parse_ports(text: str) -> range:
    """A port ("9108"), a range of them ("9110-9119"), or "0" for none."""
    first, dash, last = text.strip().partition("-")
    try:
        ports = range(int(first), int(last if dash else first) + 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a port or a range of ports like 9110-9119") from None
    if ports.start == 0 and not dash:
        return range(0)
    if not ports or ports.start < 1 or ports.stop > 65536:
        raise ValueError(f"{text!r} is not a port or a range of ports within 1-65535")
    return ports


def env_ports(name: str, default: str) -> range:
    """parse_ports of the variable."""
    value = _value(name)
    try:
        return parse_ports(value or default)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r}: {exc}.") from None


def env_ip_address(name: str, default: str) -> str:
    """An IP address, v4 or v6 (0.0.0.0 or :: for every interface), to bind a server to."""
    value = _value(name)
    if value is None:
        return default
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not an IP address: use e.g. 127.0.0.1 (this host only) "
            "or 0.0.0.0 (every interface)."
        ) from None
