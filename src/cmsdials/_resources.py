"""Generic resources: ``get`` / ``list`` / ``list_all`` for any declared route.

A route is declared once, as a :class:`Route` on a small subclass (see ``_clients.py``);
everything else - the ``get`` signature built from the key fields, paging, resuming,
progress, decoding - comes from the classes here.
"""

from __future__ import annotations

import builtins
import inspect
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar, cast

from cmsdials._decode import list_decoder, model_decoder
from cmsdials._filters import BaseFilters, PaginatedFilters
from cmsdials._models import Row
from cmsdials._progress import PageProgress, progress_wanted
from cmsdials._results import Paginated
from cmsdials._transport import Retries, Transport

__all__ = ["PaginatedResource", "Resource", "Route", "UnpaginatedResource"]

RowT = TypeVar("RowT", bound=Row)
FilterT = TypeVar("FilterT", bound=BaseFilters)
PageT = TypeVar("PageT", bound=Paginated[Any])

_F = TypeVar("_F", bound=BaseFilters)

#: What ``filters=`` accepts: the route's filter model, a dict of filters, or ``None``
#: (``...`` too, as the usage guide writes ``list_all(..., max_pages=5)``).
FilterArg: TypeAlias = "_F | Mapping[str, Any] | EllipsisType | None"


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
    """

    path: str
    row: type[Row]
    filters: type[BaseFilters]
    keys: tuple[str, ...]
    optional_keys: tuple[str, ...] = ()
    key_aliases: Mapping[str, str] = field(default_factory=dict)
    page: type[Paginated[Any]] | None = None
    ordering: tuple[str, ...] = ()

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

    def object_path(self, *args: Any, **named: Any) -> str:
        """The path of one object, from ``get``'s arguments (validated like a call)."""
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
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return text


def _exception_name(exc: BaseException) -> str:
    # The class name alone, as the incumbent reports it (e.g. "ChunkedEncodingError").
    return type(exc).__name__


class Resource(Generic[RowT, FilterT]):
    """A DIALS route: ``get`` one object by its keys.

    Subclasses set :attr:`route`; ``get`` then takes that route's keys as arguments
    (``help()`` and ``inspect.signature`` show them).  Calling the resource is the same as
    calling ``get``: ``dials.ml_models_index(model_id=1)``.
    """

    route: ClassVar[Route]

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        route = cls.__dict__.get("route")
        if isinstance(route, Route):
            setattr(cls, "get", _typed_get(cls, route))  # noqa: B010 - built per route

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._transport.url(self.route.path)}>"

    def get(self, *keys: Any, retries: Retries = None, **named_keys: Any) -> RowT:
        """One object by its key fields; raises ``NotFoundError`` (404) if absent."""
        return cast(
            RowT,
            self._transport.request(
                "GET",
                self.route.object_path(*keys, **named_keys),
                model_decoder(self.route.row),
                retries=retries,
            ),
        )

    def __call__(self, *keys: Any, retries: Retries = None, **named_keys: Any) -> RowT:
        """Same as :meth:`get`."""
        return self.get(*keys, retries=retries, **named_keys)

    def _filters(self, filters: FilterArg[FilterT]) -> FilterT:
        """The caller's filters as this route's filter model (a dict is converted)."""
        expected = self.route.filters
        if filters is None or filters is Ellipsis:  # the guide writes list_all(..., max_pages=5)
            return cast(FilterT, expected())
        if isinstance(filters, Mapping):
            return cast(FilterT, expected(**filters))
        if not isinstance(filters, expected):
            raise TypeError(
                f"{type(self).__name__} takes {expected.__name__}, not {type(filters).__name__}"
            )
        return filters


def _typed_get(cls: type[Resource[Any, Any]], route: Route) -> Callable[..., Any]:
    """``Resource.get`` with the route's keys as its visible signature."""
    generic = Resource.get

    def get(self: Resource[Any, Any], *keys: Any, retries: Retries = None, **named: Any) -> Any:
        return generic(self, *keys, retries=retries, **named)

    params = list(route.key_signature().parameters.values())
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    retries_param = inspect.Parameter(
        "retries", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | Retry | None"
    )
    get.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param, *params, retries_param], return_annotation=route.row.__name__
    )
    get.__name__ = "get"
    get.__qualname__ = f"{cls.__qualname__}.get"
    get.__module__ = cls.__module__
    keys = ", ".join(route.keys + route.optional_keys)
    get.__doc__ = (
        f"One {route.row.__name__} by ({keys}): ``GET {route.path}"
        + "".join(f"{{{k}}}/" for k in route.keys)
        + "``.\n\n"
        + (
            f"``{', '.join(route.optional_keys)}`` may be left out (shorter route).\n\n"
            if route.optional_keys
            else ""
        )
        + "``retries``: an int, a ``urllib3.util.Retry`` or None (the default policy).\n"
        "Raises ``cmsdials.errors.NotFoundError`` when no such object exists."
    )
    return get


class PaginatedResource(Resource[RowT, FilterT], Generic[RowT, FilterT, PageT]):
    """A cursor-paginated list route: ``list`` (one page), ``pages``, ``list_all``."""

    def _page_model(self) -> type[PageT]:
        assert self.route.page is not None, "a paginated route declares its page model"
        return cast(type[PageT], self.route.page)

    def list(self, filters: FilterArg[FilterT] = None, retries: Retries = None) -> PageT:
        """One page of rows matching ``filters`` (``page_size`` rows, server default 10).

        ``filters.next_token`` selects the page; the result's :attr:`~Paginated.next`
        links the following one.
        """
        chosen = self._filters(filters)
        page = self._transport.request(
            "GET",
            self.route.path,
            model_decoder(self._page_model()),
            params=chosen.to_params(),
            retries=retries,
        )
        page._filters = chosen  # so that list_all(resume_from=page) continues this query
        return page

    def pages(
        self,
        filters: FilterArg[FilterT] = None,
        *,
        max_pages: int | None = None,
        retries: Retries = None,
    ) -> Iterator[PageT]:
        """Iterate over pages lazily, following the cursor (from ``filters.next_token``).

        Each request re-sends the caller's filters with the cursor of the previous page's
        ``next`` URL (the URL itself is never followed, CONTRACT §5.6).
        """
        if max_pages is not None and max_pages < 0:
            raise ValueError("max_pages must be >= 0 or None")
        current = self._filters(filters)
        if not isinstance(current, PaginatedFilters):
            raise TypeError(f"{type(current).__name__} is not paginated")
        fetched = 0
        while max_pages is None or fetched < max_pages:
            page = self.list(current, retries=retries)
            fetched += 1
            yield page
            token = page.next_token
            if token is None:
                return
            current = cast(FilterT, current.with_token(token))

    def list_all(
        self,
        filters: FilterArg[FilterT] = None,
        max_pages: int | None = None,
        enable_progress: bool | None = None,
        retries: Retries = None,
        keep_failed: bool = False,
        resume_from: PageT | None = None,
    ) -> PageT:
        """All rows matching ``filters``, fetching page after page.

        Parameters
        ----------
        filters:
            The route's filter model (or a dict of filters); ``None`` = no filter (the
            whole table: slow on a real DIALS).
        max_pages:
            Stop after this many pages (in this call); the result's ``next`` then allows
            resuming.
        enable_progress:
            Show a tqdm progress bar.  ``None`` (default): when tqdm is installed and
            stderr is a terminal or a notebook.
        retries:
            Retry policy for each page request (an int, a ``urllib3.util.Retry``, or
            ``None`` for the default policy; ``0`` disables retries).
        keep_failed:
            On an exception, return the rows fetched so far with ``exc_type`` and
            ``exc_formatted`` set instead of raising.
        resume_from:
            A result of an earlier ``list_all`` that failed (``keep_failed=True``) or
            stopped at ``max_pages``: continue after its last page.  Its rows come first
            in the new result; no row is fetched twice.  When ``filters`` is ``None`` the
            earlier walk's filters are reused.

        Returns
        -------
        The route's paginated model: ``results`` = all rows in the server's order,
        ``next`` = the ``next`` of the last page fetched (``None`` when complete),
        ``previous`` = ``None``.
        """
        page_model = self._page_model()
        if filters is None and resume_from is not None and resume_from._filters is not None:
            walk_filters = cast(FilterT, resume_from._filters.with_token(None))
        else:
            walk_filters = self._filters(filters)
        start_token = getattr(walk_filters, "next_token", None)
        rows: list[Any] = []
        next_url: str | None = None
        if resume_from is not None:
            if not isinstance(resume_from, page_model):
                raise TypeError(
                    f"resume_from must be a {page_model.__name__}, not {type(resume_from).__name__}"
                )
            rows = list(resume_from.results)
            next_url = resume_from.next
            if next_url is None and not resume_from.failed:
                max_pages = 0  # that walk was complete: nothing left to fetch
            elif next_url is not None:
                start_token = resume_from.next_token
            elif resume_from._filters is not None:
                # It failed before its first page: start where it started.
                start_token = getattr(resume_from._filters, "next_token", None)
        walk_filters = cast(FilterT, walk_filters.with_token(start_token))

        progress = PageProgress(progress_wanted(enable_progress), max_pages)
        failure: Exception | None = None
        try:
            for page in self.pages(walk_filters, max_pages=max_pages, retries=retries):
                rows.extend(page.results)
                next_url = page.next
                progress.update(more=page.next is not None)
        except Exception as exc:
            if not keep_failed:
                raise
            failure = exc
        finally:
            progress.close()

        # Rows were validated page by page: build the container without re-validating.
        result = page_model.model_construct(
            next=next_url,
            previous=None,
            results=rows,
            exc_type=_exception_name(failure) if failure is not None else None,
            exc_formatted=(
                "".join(traceback.format_exception(failure)) if failure is not None else None
            ),
        )
        result._filters = walk_filters.with_token(start_token)
        return result


class UnpaginatedResource(Resource[RowT, FilterT]):
    """A list route that answers one plain JSON array (``mes/``)."""

    def list(
        self, filters: FilterArg[FilterT] = None, retries: Retries = None
    ) -> builtins.list[RowT]:
        """Every row matching ``filters``, as a list (the route is not paginated)."""
        params = self._filters(filters).to_params()
        return cast(
            builtins.list[RowT],
            self._transport.request(
                "GET", self.route.path, list_decoder(self.route.row), params=params, retries=retries
            ),
        )

    def list_all(
        self,
        filters: FilterArg[FilterT] = None,
        max_pages: int | None = None,
        enable_progress: bool | None = None,
        retries: Retries = None,
        keep_failed: bool = False,
        resume_from: Any = None,
    ) -> builtins.list[RowT]:
        """Same as :meth:`list` (kept for scripts written for the 1.x client).

        The paging arguments are accepted and have no effect: there is only one page.
        """
        return self.list(filters, retries=retries)
