"""Which hosts may receive a Salesforce token (SPEC §6): Salesforce domains, or hosts the operator listed.

Every URL the bot sends a token, a code or a client secret to passes through `require_salesforce_url`
first, so a crafted My Domain argument or a forged `instance_url` cannot turn the bot into a proxy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.errors import LoginHostError

# Production, My Domain (`*.my.salesforce.com`), enhanced sandboxes (`*.sandbox.my.salesforce.com`),
# Hyperforce instances and Lightning/Visualforce hosts all live under these two registrable domains.
SALESFORCE_DOMAINS = ("salesforce.com", "force.com")

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class HostPolicy:
    """Salesforce domains plus the operator's `SALESFORCE_ALLOWED_HOSTS` (`host[:port]`, lower case)."""

    extra_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> HostPolicy:
        return cls(extra_hosts=frozenset(entry.strip().lower() for entry in entries if entry.strip()))

    def require_salesforce_url(self, url: str, *, what: str) -> str:
        """Return the URL's origin (`scheme://host[:port]`) or raise `LoginHostError` naming `what`."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise LoginHostError(f"The {what} is not a valid URL.") from exc
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise LoginHostError(f"The {what} must be an https:// URL of a Salesforce host.")
        if parts.username is not None or parts.password is not None:
            raise LoginHostError(f"The {what} must not contain a user name or password.")
        host_port = _format_netloc(host, port)
        if host_port in self.extra_hosts or (port is None and host in self.extra_hosts):
            if parts.scheme == "http" and not is_loopback_host(host):
                raise LoginHostError(f"The {what} uses plain http, which is allowed only for loopback hosts.")
            return f"{parts.scheme}://{_format_netloc(host, port)}"
        if parts.scheme != "https":
            raise LoginHostError(f"The {what} must use https.")
        if port not in (None, 443):
            raise LoginHostError(f"The {what} must not name a port.")
        if not is_salesforce_hostname(host):
            raise LoginHostError(
                f"The {what} host {host!r} is not a Salesforce domain (*.salesforce.com or *.force.com)."
            )
        return f"https://{host}"

    def is_allowed(self, url: str) -> bool:
        try:
            self.require_salesforce_url(url, what="URL")
        except LoginHostError:
            return False
        return True


def is_salesforce_hostname(host: str) -> bool:
    """True for a syntactically valid host name under one of `SALESFORCE_DOMAINS`."""
    labels = host.split(".")
    if any(not _LABEL.match(label) for label in labels):
        return False
    return any(host.endswith("." + domain) for domain in SALESFORCE_DOMAINS)


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (a host name as URLs carry it, IPv6 without brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _format_netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"
