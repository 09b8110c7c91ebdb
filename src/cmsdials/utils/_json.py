"""JSON with ``datetime`` values, as the 2.x token cache file stored them.

``json.dumps(token, cls=TokenEncoder)`` writes datetimes in ISO 8601;
``json.loads(text, cls=TokenDecoder)`` reads ``expires_at`` and ``refresh_expires_at``
back as datetimes.  The credential cache itself no longer uses them
(:mod:`cmsdials.auth._store`); they are kept for scripts that read 2.x cache files.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["DATETIME_KEYS", "TokenDecoder", "TokenEncoder"]

#: The keys whose values :class:`TokenDecoder` turns into datetimes.
DATETIME_KEYS = frozenset({"expires_at", "refresh_expires_at"})


class TokenEncoder(json.JSONEncoder):
    """A JSON encoder that writes datetimes as ISO 8601 strings."""

    def default(self, o: Any) -> Any:
        """``o.isoformat()`` for a datetime; anything else as ``json`` would."""
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


class TokenDecoder(json.JSONDecoder):
    """A JSON decoder that reads the token expiry keys back as datetimes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Our hook replaces any the caller gives: it is the point of this class.
        kwargs["object_hook"] = self.object_hook
        super().__init__(*args, **kwargs)

    def object_hook(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with its expiry strings parsed (other values untouched)."""
        return {
            key: datetime.fromisoformat(value)
            if key in DATETIME_KEYS and isinstance(value, str)
            else value
            for key, value in obj.items()
        }
