"""Salesforce-looking identifiers and random credentials for the fake.

Record ids follow Salesforce's shape: a 3-character key prefix, then 12 base-62 characters
(15 in all), then the 3-character case-safe suffix that turns a 15-character id into the
18-character form.  The fake numbers records with one counter per fake, so ids are unique
and deterministic within a test.  Key prefixes for real objects are the real ones (``00D``
Organization, ``005`` User, ``0Af`` deploy request, ``0H4`` connected app); the prefixes of
External Client App records and OAuth consumers are made up.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_ALNUM = string.ascii_letters + string.digits

PREFIX_ORG = "00D"
PREFIX_USER = "005"
PREFIX_DEPLOY = "0Af"
PREFIX_CONNECTED_APP = "0H4"
PREFIX_ECA = "0xI"  # made up
PREFIX_ECA_SATELLITE = "0xJ"  # made up
PREFIX_OAUTH_CONSUMER = "0Ci"  # made up
PREFIX_STAGED_CREDENTIAL = "0Cs"  # made up
PREFIX_OAUTH_TOKEN = "0CJ"
PREFIX_PERMISSION_SET = "0PS"
PREFIX_PERMISSION_SET_ASSIGNMENT = "0Pa"


def case_safe_suffix(id15: str) -> str:
    """The 3 characters that Salesforce appends to a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for pos, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if ch.isupper():
                bits |= 1 << pos
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (ValueError otherwise)."""
    if len(record_id) == 18 and record_id.isalnum():
        return record_id
    if len(record_id) == 15 and record_id.isalnum():
        return record_id + case_safe_suffix(record_id)
    raise ValueError(f"not a Salesforce id: {record_id!r}")


def same_id(a: str, b: str) -> bool:
    """True when two ids (15 or 18 characters) name the same record."""
    try:
        return to18(a) == to18(b)
    except ValueError:
        return False


class IdFactory:
    """Hands out unique 18-character ids per key prefix."""

    def __init__(self, pod: str = "5g") -> None:
        self._counter = itertools.count(1)
        self._pod = pod

    def new(self, prefix: str) -> str:
        n = next(self._counter)
        digits = ""
        while n:
            n, rem = divmod(n, 62)
            digits = _BASE62[rem] + digits
        id15 = prefix + self._pod + digits.rjust(15 - len(prefix) - len(self._pod), "0")
        return id15 + case_safe_suffix(id15)


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_access_token(org_id: str) -> str:
    """``<15-char org id>!<opaque>`` like Salesforce session ids."""
    alphabet = _ALNUM + "._"
    body = "AQ" + "".join(secrets.choice(alphabet) for _ in range(94))
    return f"{org_id[:15]}!{body}"


def new_refresh_token() -> str:
    return "5Aep861" + "".join(secrets.choice(_ALNUM + "._") for _ in range(80))


def new_auth_code() -> str:
    """Authorization codes end in ``==`` and may hold ``+`` and ``/``: clients must URL-decode."""
    return "aPrx" + base64.b64encode(secrets.token_bytes(40)).decode("ascii")


def new_consumer_key() -> str:
    """Generated consumer keys look like ``3MVG9...`` and may contain ``.`` and ``_``."""
    return "3MVG9" + "".join(secrets.choice(_ALNUM + "._") for _ in range(80))


def new_consumer_secret() -> str:
    return secrets.token_hex(32).upper()


def new_opaque(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
