"""Generic resources: ``get`` / ``list`` / ``list_all`` for any declared route.

A route is declared once, as a :class:`~cmsdials._route.Route` on a small subclass (see
``_route_clients.py``); everything else - the ``get`` signature built from the key fields,
paging, resuming, progress, decoding - comes from the classes here.  The bulk machinery
they call lives in its own modules and is handed the route client's
:class:`~cmsdials._route.RouteBinding` (route and transport), never the client itself:
``_walk`` (pipelined and parallel cursor walks), ``_partition`` (cutting a query),
``_collect`` (``list_all``), ``_stream`` (streaming), ``_many`` (``get_many``).
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from typing_extensions import TypeAlias

from cmsdials._collect import collect
from cmsdials._decode import decode_json, list_decoder, model_decoder, page_decoder
from cmsdials._filters import BaseFilters, PaginatedFilters
from cmsdials._many import get_many
from cmsdials._mes import check_me_name
from cmsdials._models import Row
from cmsdials._results import Paginated, continuation_of
from cmsdials._resume import Continuation
from cmsdials._route import Route, RouteBinding
from cmsdials._stream import Stream
from cmsdials._suggest import checked_keywords
from cmsdials._transport import DEFAULT_TIMEOUT, Retries, Timeout, Transport
from cmsdials.auth.base import BaseCredentials
from cmsdials.utils._base_client import BaseAPIClient

if TYPE_CHECKING:
    from types import EllipsisType

__all__ = [
    "FilterArg",
    "PaginatedResource",
    "Resource",
    "UnpaginatedResource",
    "transport_for",
]

RowT = TypeVar("RowT", bound=Row)
FilterT = TypeVar("FilterT", bound=BaseFilters)
PageT = TypeVar("PageT", bound=Paginated[Any])

_F = TypeVar("_F", bound=BaseFilters)

#: What ``filters=`` accepts: the route's filter model, a dict of filters, or ``None``
#: (``...`` too, as the usage guide writes ``list_all(..., max_pages=5)``).
FilterArg: TypeAlias = "_F | Mapping[str, Any] | EllipsisType | None"


def _filter_names(resource: Resource[Any, Any]) -> list[str]:
    """The route's filter names (a misspelt keyword may be a filter put in the wrong place)."""
    return resource.route.filters.names()


#: Keyword checks with suggestions for the list-like methods of every route.
_checked = checked_keywords(_filter_names)


def transport_for(
    creds: BaseCredentials | Transport,
    workspace: str | None = None,
    base_url: str | None = None,
    route: str | None = None,
    version: str | None = None,
) -> Transport:
    """The transport of a client built on its own (2.x style) or by :class:`~cmsdials.Dials`.

    :class:`~cmsdials.Dials` hands its one shared :class:`Transport` to every route; a
    route client made on its own, ``RunClient(creds, "tracker", base_url=...)``, gets a
    transport (and connection pool) of its own.
    """
    if isinstance(creds, Transport):
        if any(arg is not None for arg in (workspace, base_url, route, version)):
            raise TypeError("give either a Transport or workspace/base_url/route/version")
        return creds
    return Transport(creds, base_url=base_url, route=route, version=version, workspace=workspace)


class Resource(BaseAPIClient, Generic[RowT, FilterT]):
    """A DIALS route: ``get`` one object by its keys.

    Subclasses set :attr:`route`; ``get`` then takes that route's keys as arguments
    (``help()`` and ``inspect.signature`` show them).  Calling the resource is the same as
    calling ``get``: ``dials.ml_models_index(model_id=1)``.

    Parameters
    ----------
    creds:
        Credentials (:mod:`cmsdials.auth`), or the :class:`Transport` of a
        :class:`~cmsdials.Dials` (then nothing else is given).
    workspace, base_url, route, version:
        As for :class:`~cmsdials.Dials`.

    The 2.x class attributes are derived from :attr:`route`: ``lookup_url`` (its path),
    ``data_model`` (row model), ``filter_class`` and ``pagination_model``.
    """

    route: ClassVar[Route]
    lookup_url: ClassVar[str]
    data_model: ClassVar[type[Row]]
    filter_class: ClassVar[type[BaseFilters]]
    pagination_model: ClassVar[type[Paginated[Any]]]  # paginated routes only
    #: Default ``(connect, read)`` timeout of the requests (configurable on ``Dials``).
    default_timeout: ClassVar[Timeout] = DEFAULT_TIMEOUT

    def __init__(
        self,
        creds: BaseCredentials | Transport,
        workspace: str | None = None,
        base_url: str | None = None,
        route: str | None = None,
        version: str | None = None,
    ) -> None:
        self._transport = transport_for(creds, workspace, base_url, route, version)
        # BaseAPIClient.__init__ is not called: here ``route`` names the route's
        # declaration (a class attribute, unlike 2.x's "api/"), and the URL parts are
        # the transport's.
        self.base_url = self._transport.base_url
        self.version = self._transport.version

    @property
    def api_url(self) -> str:
        """The prefix of the route, e.g. ``https://cmsdials-api.web.cern.ch/api/v1/``."""
        return self._transport.api_url

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        route = cls.__dict__.get("route")
        if isinstance(route, Route):
            setattr(cls, "get", _typed_get(cls, route))  # noqa: B010 - built per route
            cls.lookup_url = route.path
            cls.data_model = route.row
            cls.filter_class = route.filters
            if route.page is not None:
                cls.pagination_model = route.page

    @property
    def creds(self) -> BaseCredentials:
        """The credentials every request of this route is sent with."""
        return self._transport.creds

    @property
    def workspace(self) -> str | None:
        """The workspace sent in the ``Workspace`` header, or ``None``."""
        return self._transport.workspace

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._transport.url(self.route.path)}>"

    def get(
        self,
        *keys: Any,
        retries: Retries = None,
        params: Mapping[str, Any] | None = None,
        return_raw_json: bool = False,
        **named_keys: Any,
    ) -> RowT:
        """One object by its key fields; raises ``NotFoundError`` (404) if absent.

        ``params``: extra query parameters; ``return_raw_json``: the decoded JSON as the
        server sent it instead of the row model.
        """
        self.route.check_key_names(named_keys, f"{type(self).__name__}.get()")
        decoder = decode_json if return_raw_json else model_decoder(self.route.row)
        return cast(
            RowT,
            self._transport.request(
                "GET",
                self.route.object_path(*keys, **named_keys),
                decoder,
                params=params,
                retries=retries,
            ),
        )

    def __call__(self, *keys: Any, retries: Retries = None, **named_keys: Any) -> RowT:
        """Same as :meth:`get`."""
        return self.get(*keys, retries=retries, **named_keys)

    @property
    def transport(self) -> Transport:
        """The transport (session, retries) this route sends its requests through."""
        return self._transport

    @property
    def _binding(self) -> RouteBinding:
        """This route and its transport: what the bulk machinery is handed."""
        return RouteBinding(self._transport, self.route)

    @_checked
    def get_many(
        self,
        keys: Iterable[Any],
        *,
        workers: int = 8,
        retries: Retries = None,
        return_exceptions: bool = False,
        enable_progress: bool | None = False,
    ) -> builtins.list[Any]:
        """Many objects by their keys, fetched concurrently; results in input order.

        ``keys``: one entry per object, each a tuple of the key values in ``get``'s order
        (``(dataset_id, run_number, ls_number, me_id)`` for th1), a dict of them, or a
        single value for one-key routes.  Malformed keys raise before any request.

        ``workers`` requests are in flight at once over the shared connection pool, each
        with the ``retries`` policy.  When some keys fail (e.g. ``NotFoundError``), the
        others are still fetched, then :class:`~cmsdials.errors.GetManyError` is raised
        with ``.results`` (rows, ``None`` where a key failed) and ``.errors`` (index ->
        exception).  ``return_exceptions=True`` returns the exceptions in place of the
        rows instead of raising.
        """
        return get_many(
            self._binding,
            keys,
            workers=workers,
            retries=retries,
            return_exceptions=return_exceptions,
            enable_progress=enable_progress,
        )

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

    def get(
        self: Resource[Any, Any],
        *keys: Any,
        retries: Retries = None,
        params: Mapping[str, Any] | None = None,
        return_raw_json: bool = False,
        **named: Any,
    ) -> Any:
        return generic(
            self, *keys, retries=retries, params=params, return_raw_json=return_raw_json, **named
        )

    keyword = inspect.Parameter.KEYWORD_ONLY
    options = [
        inspect.Parameter("retries", keyword, default=None, annotation="int | Retry | None"),
        inspect.Parameter("params", keyword, default=None, annotation="Mapping[str, Any] | None"),
        inspect.Parameter("return_raw_json", keyword, default=False, annotation="bool"),
    ]
    keys = list(route.key_signature().parameters.values())
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    get.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param, *keys, *options], return_annotation=route.row.__name__
    )
    get.__name__ = "get"
    get.__qualname__ = f"{cls.__qualname__}.get"
    get.__module__ = cls.__module__
    names = ", ".join(route.keys + route.optional_keys)
    get.__doc__ = (
        f"One {route.row.__name__} by ({names}): ``GET {route.path}"
        + "".join(f"{{{k}}}/" for k in route.keys)
        + "``.\n\n"
        + (
            f"``{', '.join(route.optional_keys)}`` may be left out (shorter route).\n\n"
            if route.optional_keys
            else ""
        )
        + "``retries``: an int, a ``urllib3.util.Retry`` or None (the default policy).\n"
        "``params``: extra query parameters.  ``return_raw_json=True``: the server's JSON "
        "(a dict) instead of the model.\n"
        "Raises ``cmsdials.errors.NotFoundError`` when no such object exists."
    )
    return get


class PaginatedResource(Resource[RowT, FilterT], Generic[RowT, FilterT, PageT]):
    """A cursor-paginated list route: ``list`` (one page), ``pages``, ``iter_all``,
    ``list_all``, ``stream``."""

    def page_model(self) -> type[PageT]:
        """The ``Paginated...List`` model of this route."""
        assert self.route.page is not None, "a paginated route declares its page model"
        return cast(type[PageT], self.route.page)

    def _paginated_filters(self, filters: FilterArg[FilterT]) -> PaginatedFilters:
        chosen = self._filters(filters)
        if not isinstance(chosen, PaginatedFilters):
            raise TypeError(f"{type(chosen).__name__} is not paginated")
        return chosen

    @_checked
    def list(self, filters: FilterArg[FilterT] = None, retries: Retries = None) -> PageT:
        """One page of rows matching ``filters`` (``page_size`` rows, server default 10).

        ``filters.next_token`` selects the page; the result's :attr:`~Paginated.next`
        links the following one.
        """
        chosen = self._paginated_filters(filters)
        check_me_name(self.route.path, self._transport, chosen, retries)
        # The page remembers its query, so that list_all(resume_from=page) continues it.
        answers: Continuation[Paginated[Any]] = Continuation(chosen)
        return self._transport.request(
            "GET",
            self.route.path,
            page_decoder(self.page_model(), continuation=answers),
            params=chosen.to_params(),
            retries=retries,
        )

    @_checked
    def stream(
        self,
        filters: FilterArg[FilterT] = None,
        *,
        max_pages: int | None = None,
        workers: int = 1,
        retries: Retries = None,
        enable_progress: bool | None = None,
    ) -> Stream[RowT, PageT]:
        """The query as a :class:`~cmsdials.Stream`: read it page by page with bounded memory.

        Nothing is requested until a method of the stream runs: ``pages()``, ``rows()``
        (or iterating the stream), ``to_parquet(path)``, ``to_csv(path)``,
        ``to_numpy()``, ``to_pandas()``, ``to_arrow()``, ``to_hist()``.

        Parameters
        ----------
        max_pages:
            Stop after this many pages.
        workers:
            Walk the query as this many concurrent partitions (by dataset and run range;
            th1, th2 and lumisection routes); results keep the server's order.
        retries:
            Retry policy per request (as for ``list_all``).
        enable_progress:
            Progress in rows (as for ``list_all``): ``None`` a bar when someone is
            watching, else log lines; ``True`` a bar; ``False`` nothing.
        """
        return Stream(
            self._binding,
            self._paginated_filters(filters),
            max_pages=max_pages,
            workers=workers,
            retries=retries,
            enable_progress=enable_progress,
        )

    @_checked
    def pages(
        self,
        filters: FilterArg[FilterT] = None,
        *,
        max_pages: int | None = None,
        retries: Retries = None,
        workers: int = 1,
    ) -> Generator[PageT, None, None]:
        """Iterate over pages lazily, following the cursor (from ``filters.next_token``).

        Each request re-sends the caller's filters with the cursor of the previous page's
        ``next`` URL (the URL itself is never followed, CONTRACT §5.6).  The request for
        the following page leaves while a page is decoded: at most two pages are fetched
        ahead of the loop (per partition with ``workers > 1``).
        """
        return self.stream(
            filters, max_pages=max_pages, workers=workers, retries=retries, enable_progress=False
        ).pages()

    @_checked
    def iter_all(
        self,
        filters: FilterArg[FilterT] = None,
        *,
        max_pages: int | None = None,
        workers: int = 1,
        retries: Retries = None,
        enable_progress: bool | None = None,
    ) -> Generator[RowT, None, None]:
        """Iterate over all matching rows (models) one by one, page after page.

        Memory holds one page of rows at a time, whatever the size of the result.
        Arguments as for :meth:`stream`.
        """
        return self.stream(
            filters,
            max_pages=max_pages,
            workers=workers,
            retries=retries,
            enable_progress=enable_progress,
        ).rows()

    @_checked
    def list_all(
        self,
        filters: FilterArg[FilterT] = None,
        max_pages: int | None = None,
        enable_progress: bool | None = None,
        retries: Retries = None,
        keep_failed: bool = False,
        resume_from: PageT | None = None,
        *,
        workers: int = 1,
    ) -> PageT:
        """All rows matching ``filters``, fetching page after page.

        Parameters
        ----------
        filters:
            The route's filter model (or a dict of filters); ``None`` = no filter (the
            whole table: slow on a real DIALS).
        max_pages:
            Stop after this many pages (in this call); the result's ``next`` then allows
            resuming.  ``0`` requests nothing: ``next`` is the first page's URL.
        enable_progress:
            Progress in rows, against an exact total where the server has one (count
            routes; ``mes/`` or lumisection counts for th1/th2).  ``None`` (default): a
            tqdm bar when tqdm is installed and stderr is a terminal or a notebook, else
            a line every few seconds on the ``cmsdials.progress`` logger (INFO).
            ``True``: a tqdm bar; ``False``: nothing.
        retries:
            Retry policy for each page request (an int, a ``urllib3.util.Retry``, or
            ``None`` for the default policy; ``0`` disables retries).
        keep_failed:
            After a network or server failure (HTTP error, connection error, broken
            body), return the rows fetched so far with ``exc_type`` and
            ``exc_formatted`` set instead of raising.  Other exceptions are raised, and
            Ctrl-C (``KeyboardInterrupt``) always propagates, ending the requests in
            flight.
        resume_from:
            A result of an earlier ``list_all`` that failed (``keep_failed=True``) or
            stopped at ``max_pages``: continue after its last page.  Its rows come first
            in the new result; no row is fetched twice.  When ``filters`` is ``None`` the
            earlier walk's filters are reused.
        workers:
            Cut the query into partitions (by dataset and run range, found through the
            dataset-index and run routes) walked concurrently over the shared connection
            pool (th1, th2, lumisection; other routes walk as one).  The result has
            exactly the rows, in the order, of a single walk.  With ``max_pages`` or a
            failure, rows of partitions after an unfinished one are kept for
            ``resume_from`` but not shown, so ``results`` stays a prefix of the answer.

        Returns
        -------
        The route's paginated model: ``results`` = all rows in the server's order,
        ``next`` = where the walk would continue (``None`` when complete),
        ``previous`` = ``None``.  For th1/th2, ``results`` is built on first access;
        ``to_numpy()``, ``to_pandas()``, ... read the decoded columns directly.
        """
        page_model = self.page_model()
        if resume_from is not None and not isinstance(resume_from, page_model):
            raise TypeError(
                f"resume_from must be a {page_model.__name__}, not {type(resume_from).__name__}"
            )
        earlier = continuation_of(resume_from) if resume_from is not None else None
        if filters is None and earlier is not None:
            walk_filters = earlier.filters.with_token(None)
        else:
            walk_filters = self._paginated_filters(filters)
        return cast(
            PageT,
            collect(
                self._binding,
                walk_filters,
                max_pages=max_pages,
                enable_progress=enable_progress,
                retries=retries,
                keep_failed=keep_failed,
                resume_from=resume_from,
                workers=workers,
            ),
        )


class UnpaginatedResource(Resource[RowT, FilterT]):
    """A list route that answers one plain JSON array (``mes/``)."""

    @_checked
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

    @_checked
    def list_all(
        self,
        filters: FilterArg[FilterT] = None,
        max_pages: int | None = None,
        enable_progress: bool | None = None,
        retries: Retries = None,
        keep_failed: bool = False,
        resume_from: Any = None,
        *,
        workers: int = 1,
    ) -> builtins.list[RowT]:
        """Same as :meth:`list` (kept for scripts written for the 1.x client).

        The paging arguments (and ``workers``) are accepted and have no effect: there is
        only one page.
        """
        return self.list(filters, retries=retries)
