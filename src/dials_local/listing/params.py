"""Query-string handling shared by every route: parameter lookup, page size, ``fields``,
and the absolute ``next``/``previous`` URLs (CONTRACT §2.4, §5.1, §5.4, §6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class QueryParams:
    """The parameters of one request as Django's ``QueryDict`` sees them.

    ``get`` returns the **last** occurrence of a repeated parameter (CONTRACT §6:
    "the last one wins"), ``getlist`` all of them in order.
    """

    pairs: tuple[tuple[str, str], ...]
    _last: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_last", dict(self.pairs))

    @classmethod
    def parse(cls, query_string: str) -> QueryParams:
        """Decode a raw query string (``+`` and ``%XX`` decoded, blank values kept)."""
        return cls(tuple(parse_qsl(query_string, keep_blank_values=True)))

    def get(self, name: str) -> str | None:
        """The last value of ``name``, or None."""
        return self._last.get(name)

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name``, in request order."""
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return name in self._last

    def names(self) -> list[str]:
        """Distinct parameter names, in order of first appearance."""
        return list(self._last)


def page_size(params: QueryParams) -> int:
    """``page_size``: default 10, capped at 500; non-integer, 0 or negative -> default."""
    raw = params.get("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)  # Python int(): surrounding whitespace and a leading + are fine
    except ValueError:
        return DEFAULT_PAGE_SIZE
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def sparse_fields(params: QueryParams, available: tuple[str, ...]) -> tuple[str, ...]:
    """The output keys selected by ``fields`` (in the serializer's order).

    Without ``fields`` every key is kept; with it only the listed known names (unknown
    names are ignored, so a value naming nothing valid yields empty objects).
    """
    raw = params.get("fields")
    if raw is None:
        return available
    wanted = {name for name in raw.split(",") if name}
    return tuple(name for name in available if name in wanted)


def replace_query_param(url: str, key: str, value: str) -> str:
    """``url`` with ``key`` set to ``value`` and all parameters re-encoded sorted by key.

    Same algorithm as DRF's ``replace_query_param`` (CONTRACT §5.4): repeated parameters
    keep all their values, blank values are kept, spaces become ``+``.
    """
    return query_param_setter(url, key)(value)


def query_param_setter(url: str, key: str) -> Callable[[str], str]:
    """:func:`replace_query_param` of ``url`` and ``key`` for any value, the URL parsed
    once (a page's ``next`` and ``previous`` links differ only in the cursor)."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    # The other keys sort around ``key``: encode both sides once.
    ordered = sorted(query_dict.items())
    before = urlencode([item for item in ordered if item[0] < key], doseq=True)
    after = urlencode([item for item in ordered if item[0] > key], doseq=True)

    def with_value(value: str) -> str:
        parts = (before, urlencode(((key, value),)), after)
        query = "&".join(part for part in parts if part)
        return urlunsplit((scheme, netloc, path, query, fragment))

    return with_value
