"""A route's declaration (:class:`Route`), and a route bound to a transport
(:class:`RouteBinding`).

A :class:`Route` says everything that distinguishes one DIALS route from another: its
path, key fields, row/page/filter models and ordering; the route clients
(``_route_clients``) declare one each.  A :class:`RouteBinding` pairs a route with the
:class:`~cmsdials._transport.Transport` that sends its requests: it is all that the bulk
machinery (``_collect``, ``_stream``, ``_many``, ``_totals``) needs of a route client, so
those modules never import the client classes.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cmsdials._filters import BaseFilters
from cmsdials._models import Row
from cmsdials._results import Paginated
from cmsdials._suggest import closest
from cmsdials._transport import Transport
from cmsdials.errors import UnknownArgumentError

__all__ = ["GET_OPTIONS", "Route", "RouteBinding"]

#: The keyword options of ``get`` besides the keys (suggested for misspelt keywords too).
GET_OPTIONS = ("retries", "params", "return_raw_json")


@dataclass(frozen=True)
class Route:
    """Everything that distinguishes one DIALS route from another.

    Parameters
    ----------
    path:
        Path under ``/api/v1/``, with its trailing slash (``"th1/"``).
    row:
        Model of one object.
    filters:
        Filter model of the list route.
    keys:
        Path segments of the single-object route, in order (``get``'s arguments).
    optional_keys:
        Trailing segments that may be left out (``me_id`` of ml-bad-lumisection selects
        the 5-segment route of the original API).
    key_aliases:
        Other accepted names of key arguments (``id`` for ``me_id``, as the incumbent
        named it).
    page:
        Container of one page; ``None`` for routes that return a plain array.
    ordering:
        The server's result order (CONTRACT §5.3), the order ``list_all`` returns rows in.
    count_path:
        The count route (``{"count": n}``, CONTRACT §6) where one exists: gives progress
        bars a total.
    """

    path: str
    row: type[Row]
    filters: type[BaseFilters]
    keys: tuple[str, ...]
    optional_keys: tuple[str, ...] = ()
    key_aliases: Mapping[str, str] = field(default_factory=dict)
    page: type[Paginated[Any]] | None = None
    ordering: tuple[str, ...] = ()
    count_path: str | None = None

    def key_signature(self) -> inspect.Signature:
        """``(key1: int, key2: int, ..., optional: int | None = None)``."""
        required = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)
            for name in self.keys
        ]
        optional = [
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation="int | None"
            )
            for name in self.optional_keys
        ]
        return inspect.Signature([*required, *optional])

    def check_key_names(self, named: Mapping[str, Any], where: str) -> None:
        """Raise :class:`~cmsdials.errors.UnknownArgumentError` for a name in ``named``
        that is not a key of this route, naming the closest keys (and ``get`` options)."""
        known = (*self.keys, *self.optional_keys, *self.key_aliases)
        for name in named:
            if name not in known:
                raise UnknownArgumentError(name, where, closest(name, (*known, *GET_OPTIONS)))

    def object_path(self, *args: Any, **named: Any) -> str:
        """The path of one object, from ``get``'s arguments (validated like a call).

        A misspelt key (``meid=1``) raises :class:`~cmsdials.errors.UnknownArgumentError`
        naming the closest keys, rather than Python's complaint that ``me_id`` is missing.
        """
        self.check_key_names(named, f"get() of {self.path}")
        for alias, name in self.key_aliases.items():
            if alias in named:
                if name in named:
                    raise TypeError(f"give only one of {alias!r} and {name!r}")
                named[name] = named.pop(alias)
        bound = self.key_signature().bind(*args, **named)
        parts: list[str] = []
        for name in (*self.keys, *self.optional_keys):
            value = bound.arguments.get(name)
            if value is None:
                break  # only optional trailing keys can be missing
            parts.append(_segment(name, value))
        return self.path + "/".join(parts) + "/"


def _segment(name: str, value: Any) -> str:
    """One path segment: a non-negative integer (the server only routes ``\\d+``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return text


@dataclass(frozen=True)
class RouteBinding:
    """A route client's route and the transport that sends its requests.

    Walks (``list_all``, ``stream``, ``pages``), ``get_many`` and progress totals take
    this rather than the route client: they need where to send requests
    (:attr:`transport`), what to ask for (:attr:`route`: path, keys, count route) and how
    to read a page (:attr:`page_model`).
    """

    transport: Transport
    route: Route

    @property
    def path(self) -> str:
        """The route's path under the API prefix (``"th1/"``)."""
        return self.route.path

    @property
    def page_model(self) -> type[Paginated[Any]]:
        """The container of one page; ``TypeError`` for a route that is not paginated."""
        page = self.route.page
        if page is None:
            raise TypeError(f"{self.route.path} is not paginated")
        return page
