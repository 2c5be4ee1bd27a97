"""Read settings from environment variables, failing loudly on malformed values."""

import os
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    """Return the variable stripped of surrounding blanks, or None when unset or empty."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    """A plain string."""
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    """A boolean written as 1/0, true/false, yes/no or on/off."""
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {value!r}).")


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """A whole number within [minimum, maximum]."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r}).") from None
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(
            f"{name} must be between {minimum} and {maximum} (got {number})."
        )
    return number


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A number of seconds (or any decimal) within [minimum, maximum]."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {value!r}).") from None
    if not minimum <= number <= maximum:  # also rejects nan
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum} (got {value}).")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks around items are ignored."""
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# What Django compares a request's Host with (without its port): a name, an address, an
# IPv6 address in brackets, ".example.com" for it and its subdomains, or "*".
_ALLOWED_HOST = re.compile(r"\*|\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\]")


def env_hosts(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of host names for ALLOWED_HOSTS: a URL, a port or a blank in
    one would have every request refused with a 400 that does not say why."""
    hosts = env_list(name, default)
    if not hosts:
        raise ImproperlyConfigured(f"{name} must name at least one host.")
    for host in hosts:
        if not _ALLOWED_HOST.fullmatch(host):
            raise ImproperlyConfigured(
                f"{name} holds {host!r}: give host names only, without a scheme, port or "
                "path (such as desk.example.com,127.0.0.1)."
            )
    return hosts


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One word of `choices`, case-insensitive, returned in lower case."""
    value = (_raw(name) or default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)} (got {value!r}).")
    return value


def env_url(name: str, default: str) -> str:
    """An absolute http(s) URL without query or fragment, returned without a trailing slash."""
    value = _raw(name) or default
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL (got {value!r}).")
    if parts.username or parts.password:
        # Not echoed: the message would print the password.
        raise ImproperlyConfigured(f"{name} must not carry credentials (user:password@).")
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name} must not carry a query or fragment (got {value!r}).")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a malformed port (got {value!r}).") from None
    return value.rstrip("/")


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name such as Europe/Paris."""
    value = _raw(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone such as Europe/Paris (got {value!r})."
        ) from None
    return value


_TOKEN = re.compile(r"^[\x21-\x7e]+$")


def env_secret(name: str) -> str | None:
    """A credential: printable ASCII without spaces, so it is safe in an HTTP header."""
    value = _raw(name)
    if value is not None and not _TOKEN.match(value):
        raise ImproperlyConfigured(
            f"{name} contains spaces or characters that cannot be sent in an HTTP header."
        )
    return value
