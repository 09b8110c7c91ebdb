"""Form fields of a POST body, whatever the encoding a client chose.

DRF parses JSON, form-urlencoded and multipart bodies alike (CONTRACT §2.1): C150 posts
JSON, Keycloak clients and browsers post forms.  Only string values are kept.
"""

from __future__ import annotations

import email.parser
import email.policy
from urllib.parse import parse_qsl

import orjson


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(key): value for key, value in data.items() if isinstance(value, str)}


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, payload.decode("utf-8", "replace"))
    return fields


def form_fields(content_type: str | None, body: bytes) -> dict[str, str]:
    """The fields of ``body`` (JSON object, urlencoded form or multipart form); the first
    value wins when a form repeats a field."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json_fields(body)
    if media_type == "multipart/form-data" and content_type is not None:
        return _multipart_fields(content_type, body)
    if not media_type and body.lstrip().startswith(b"{"):
        return _json_fields(body)
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields
