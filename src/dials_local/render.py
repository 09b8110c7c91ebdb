"""How dials-local writes responses: DRF-like JSON, and Django's plain HTML error pages.

JSON is produced by :mod:`orjson` in one pass.  Histogram bin contents are stored as JSON
text and reach the output as :class:`orjson.Fragment` objects, so serving a page costs no
per-float work (CONTRACT §2.2, ARCHITECTURE "fast JSON").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

#: Naive database timestamps are UTC; DRF writes them as ``2024-06-23T22:14:07Z``.
JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z

JSON_MEDIA_TYPE = "application/json"
HTML_MEDIA_TYPE = "text/html; charset=utf-8"

# Django's built-in error pages (django.views.defaults.ERROR_PAGE_TEMPLATE, DEBUG off).
_DJANGO_ERROR_PAGE = """
<!doctype html>
<html lang="en">
<head>
  <title>%(title)s</title>
</head>
<body>
  <h1>%(title)s</h1><p>%(details)s</p>
</body>
</html>
"""
NOT_FOUND_HTML = (
    _DJANGO_ERROR_PAGE
    % {"title": "Not Found", "details": "The requested resource was not found on this server."}
).encode()
SERVER_ERROR_HTML = (_DJANGO_ERROR_PAGE % {"title": "Server Error (500)", "details": ""}).encode()


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of ``value`` (non-ASCII kept literally, datetimes with ``Z``)."""
    return orjson.dumps(value, option=JSON_OPTIONS)


def json_response(
    value: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A ``Content-Type: application/json`` response (no charset parameter, as DRF)."""
    return Response(dumps(value), status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def html_response(body: bytes, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An HTML response such as Django's 404 / 500 pages."""
    return Response(body, status_code=status, headers=headers, media_type=HTML_MEDIA_TYPE)


def python_float(value: float | None) -> float | orjson.Fragment | None:
    """``value`` written the way Python (and therefore DRF) prints it.

    orjson and ``repr`` agree except for tiny magnitudes, where Python switches to
    exponent notation (``1e-05``) and orjson does not (``0.00001``).  Only that range is
    rewritten, so the common case costs one comparison.
    """
    if value is None or not (-1e-4 < value < 1e-4) or value == 0.0:
        return value
    return orjson.Fragment(repr(value))


def json_fragment(text: str | None) -> orjson.Fragment | None:
    """Stored JSON text spliced into the output without decoding it."""
    return None if text is None else orjson.Fragment(text)
