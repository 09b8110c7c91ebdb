"""The ``next_token`` cursor, encoded exactly as DIALS (DRF ``CursorPagination``) does.

CONTRACT §5.5: the token is standard Base64 of an ASCII querystring ``o=<offset>``
(omitted when 0), ``r=1`` (reverse cursors only), ``p=<position>``, where the position is
the JSON array (``", "`` separators) of ``str(value)`` of every ordering field.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode, b64encode
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

#: DRF caps the offset of a decoded cursor (protection against expensive queries).
OFFSET_CUTOFF = 1000


class InvalidCursor(ValueError):
    """The ``next_token`` cannot be decoded; DIALS answers 404 ``Invalid cursor``."""


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: skip ``offset`` rows after ``position``, walking backwards if
    ``reverse``.  ``position`` is kept as the JSON text found in the token."""

    offset: int = 0
    reverse: bool = False
    position: str | None = None


def position_text(values: tuple[object, ...]) -> str:
    """The ``p`` value for a row whose ordering fields hold ``values``."""
    return json.dumps([str(value) for value in values])


def encode_cursor(cursor: Cursor) -> str:
    """The ``next_token`` string of ``cursor``."""
    tokens: dict[str, str] = {}
    if cursor.offset != 0:
        tokens["o"] = str(cursor.offset)
    if cursor.reverse:
        tokens["r"] = "1"
    if cursor.position is not None:
        tokens["p"] = cursor.position
    querystring = urlencode(tokens, doseq=True)
    return b64encode(querystring.encode("ascii")).decode("ascii")


def decode_cursor(token: str) -> Cursor:
    """Parse a ``next_token`` (an empty token means the first page).

    Raises :class:`InvalidCursor` for anything DRF would reject.
    """
    try:
        querystring = b64decode(token.encode("ascii")).decode("ascii")
        tokens = parse_qs(querystring, keep_blank_values=True)
        offset = int(tokens.get("o", ["0"])[0])
        if offset < 0:
            raise ValueError("negative offset")
        reverse = bool(int(tokens.get("r", ["0"])[0]))
        position = tokens.get("p", [None])[0]
    except (TypeError, ValueError, binascii.Error) as error:
        raise InvalidCursor(str(error)) from None
    return Cursor(offset=min(offset, OFFSET_CUTOFF), reverse=reverse, position=position)


def position_values(position: str, size: int) -> tuple[int, ...]:
    """The integer ordering values stored in a cursor position.

    All orderings of the DIALS tables are integer columns (CONTRACT §5.3).  A position
    that is not a JSON array of ``size`` integer strings is an invalid cursor.
    """
    try:
        values = json.loads(position)
    except ValueError:
        raise InvalidCursor("position is not JSON") from None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor("position does not match the ordering")
    # A real position holds at most 20 characters per value (a 64-bit integer); longer
    # strings are refused before int(), whose cost grows with the square of the length.
    if any(len(str(value)) > 20 for value in values):
        raise InvalidCursor("position value too long")
    try:
        return tuple(int(str(value)) for value in values)
    except ValueError:
        raise InvalidCursor("position holds a non-integer value") from None
