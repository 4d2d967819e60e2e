"""Metadata XML <-> plain dict conversion, guided by the built-in type table.

The dict form is what ``org.connected_apps`` / ``org.external_client_apps`` hold:

* one key per element present, in any order (serialisation re-sorts into WSDL sequence order);
* ``boolean`` fields are ``bool``, ``int`` fields ``int``, everything else ``str``;
* repeating fields (``scopes``, ``permissionSetName``, ``types``, ``members`` ...) are always lists;
* nested types are dicts (types outside the table: a dict of their child elements, lists when a
  child name repeats, strings for leaves).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from .schema import FALLBACK_TYPES, MD_NS, local_name

_ENTITY = {'"': "&quot;"}


def _coerce(text: str, type_name: str) -> Any:
    text = text.strip() if type_name in ("boolean", "int", "double") else text
    if type_name == "boolean":
        return text in ("true", "1")
    if type_name == "int":
        return int(text)
    if type_name == "double":
        return float(text)
    return text


def element_to_dict(elem: ET.Element, type_name: str | None) -> dict[str, Any]:
    """Children of ``elem`` as a dict (see module docstring)."""
    spec = FALLBACK_TYPES.get(type_name or "")
    out: dict[str, Any] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        field = spec.field(name) if spec else None
        if field is not None and field.type in FALLBACK_TYPES:
            value: Any = element_to_dict(child, field.type)
        elif len(child):
            value = element_to_dict(child, None)
        elif field is not None:
            value = _coerce(child.text or "", field.type)
        else:
            value = child.text or ""
        repeats = field.repeats if field is not None else name in out
        if repeats:
            existing = out.setdefault(name, [])
            if not isinstance(existing, list):
                out[name] = existing = [existing]
            existing.append(value)
        else:
            out[name] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def dict_to_xml(data: dict[str, Any], type_name: str | None) -> str:
    """Serialise a dict as child elements (no enclosing element), in sequence order when known."""
    spec = FALLBACK_TYPES.get(type_name or "")
    if spec is not None:
        order = {f.name: i for i, f in enumerate(spec.fields())}
        keys = sorted(data, key=lambda k: order.get(k, len(order)))
    else:
        keys = list(data)
    parts: list[str] = []
    for key in keys:
        value = data[key]
        field = spec.field(key) if spec else None
        nested_type = field.type if field is not None and field.type in FALLBACK_TYPES else None
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, dict):
                parts.append(f"<{key}>{dict_to_xml(item, nested_type)}</{key}>")
            else:
                parts.append(f"<{key}>{_text(item)}</{key}>")
    return "".join(parts)


def document(type_name: str, data: dict[str, Any]) -> bytes:
    """A complete metadata file for ``data`` (handy for tests and seeds)."""
    body = dict_to_xml(data, type_name)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{type_name} xmlns="{MD_NS}">{body}</{type_name}>\n'
    ).encode()


def attr(value: str) -> str:
    return escape(value, _ENTITY)
