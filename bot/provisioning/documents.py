"""Editing metadata documents without losing what we don't manage.

A repair starts from the record Salesforce returned, changes only the settings Quality Clouds needs,
and keeps every other element (IP ranges, permission sets, an admin's own additions) as it was.
Elements are kept in the WSDL's sequence order, which Salesforce enforces.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from bot.salesforce.metadata import FieldValue

Fields = list[tuple[str, FieldValue]]


def record_fields(record: ET.Element, *, drop: Sequence[str] = ("fullName",)) -> Fields:
    """A `readMetadata` record as ordered (element, value) pairs; nested elements become nested pairs."""
    fields: Fields = []
    for child in record:
        name = child.tag.rsplit("}", 1)[-1]
        if name in drop:
            continue
        fields.append((name, record_fields(child, drop=()) if len(child) else (child.text or "")))
    return fields


def patched(fields: Fields, *, order: Sequence[str], updates: Mapping[str, object]) -> Fields:
    """`fields` with each updated element replaced (a list value repeats the element; None removes it),
    re-sorted into `order`; elements not in `order` keep their place at the end."""
    kept: Fields = [(name, value) for name, value in fields if name not in updates]
    for name, value in updates.items():
        if value is None:
            continue
        if isinstance(value, list) and not (value and isinstance(value[0], tuple)):
            kept.extend((name, item) for item in value)
        else:
            kept.append((name, value))  # type: ignore[arg-type]
    position = {name: index for index, name in enumerate(order)}
    return sorted(kept, key=lambda pair: position.get(pair[0], len(order)))


def values(fields: Fields, name: str) -> list[FieldValue]:
    return [value for field_name, value in fields if field_name == name]


def text(fields: Fields, name: str) -> str | None:
    found = values(fields, name)
    return found[0] if found and isinstance(found[0], str) else None


def flag(fields: Fields, name: str) -> bool | None:
    value = text(fields, name)
    return None if value is None else value.strip().lower() == "true"


def nested(fields: Fields, name: str) -> Fields:
    found = values(fields, name)
    return found[0] if found and isinstance(found[0], list) else []  # type: ignore[return-value]


def callback_urls(value: str | None) -> tuple[str, ...]:
    """An app's callback URLs: Salesforce keeps several in one field, one per line."""
    return tuple(part.strip() for part in (value or "").splitlines() if part.strip())


def callback_url_with(value: str | None, required: str) -> str:
    """The callback field with `required` in it: kept as it is when already there (an admin's other callback
    URLs stay), otherwise set to `required`."""
    return value if value is not None and required in callback_urls(value) else required
