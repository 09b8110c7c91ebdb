"""The list commands (``datasets``, ``runs``, ...) and ``get``, generated from the routes.

Each command is one :class:`Listing`: the command name, the route client on
:class:`~cmsdials.Dials` and its declaration.  Its filter flags come from the fields of
the route's filter model (``run_number__gte`` -> ``--run-number-gte``), so a filter added
to the client is a flag at once.  ``--filter NAME=VALUE`` passes any filter by its API
name, checked by the client (a misspelt name names the closest valid ones).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cmsdials import _route_clients as clients
from cmsdials._decode import decode_json
from cmsdials._filters import BaseFilters, PaginatedFilters
from cmsdials._route import Route
from cmsdials._suggest import closest
from cmsdials.cli._errors import CommandError
from cmsdials.cli._output import FORMATS, emit
from cmsdials.errors import NotFoundError

__all__ = ["GET_KINDS", "LISTINGS", "Listing", "SuggestingCommand", "get_command", "list_commands"]

#: Rows per request when the caller sets no ``--page-size`` (the server's maximum).
_PAGE_SIZE = 500


@dataclass(frozen=True)
class Listing:
    """One list command: ``name``, the :class:`~cmsdials.Dials` attribute ``attr`` of its
    route, its route client class, and extra flag names for some filters."""

    name: str
    attr: str
    client: type[Any]
    summary: str
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def route(self) -> Route:
        route: Route = self.client.route
        return route


LISTINGS: tuple[Listing, ...] = (
    Listing("datasets", "dataset_index", clients.DatasetIndexClient, "DQMIO datasets"),
    Listing("files", "file_index", clients.FileIndexClient, "DQMIO files and their status"),
    Listing("runs", "run", clients.RunClient, "runs per dataset"),
    Listing("lumis", "lumi", clients.LumisectionClient, "lumisections per run"),
    Listing(
        "mes",
        "mes",
        clients.MonitoringElementClient,
        "monitoring elements of the workspace",
        aliases={"--regex": "me__regex"},
    ),
    Listing("models", "ml_models_index", clients.MLModelsIndexClient, "ML models"),
    Listing(
        "flags",
        "ml_bad_lumis",
        clients.MLBadLumisectionClient,
        "lumisections flagged by ML models (ml-bad-lumisection)",
    ),
)

#: ``get KIND``: kind -> (Dials attribute, route client).
GET_KINDS: dict[str, tuple[str, type[Any]]] = {
    "dataset": ("dataset_index", clients.DatasetIndexClient),
    "file": ("file_index", clients.FileIndexClient),
    "run": ("run", clients.RunClient),
    "lumi": ("lumi", clients.LumisectionClient),
    "th1": ("h1d", clients.LumisectionHistogram1DClient),
    "th2": ("h2d", clients.LumisectionHistogram2DClient),
    "me": ("mes", clients.MonitoringElementClient),
    "model": ("ml_models_index", clients.MLModelsIndexClient),
    "flag": ("ml_bad_lumis", clients.MLBadLumisectionClient),
}

#: Prefix of the click parameter names that hold filters.
_PREFIX = "filter__"


class SuggestingCommand(click.Command):
    """A command whose misspelt flags are answered with the closest flags, by the rule the
    client uses for misspelt filter names (``--run`` finds ``--run-number``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            flags = [
                opt
                for param in self.params
                if isinstance(param, click.Option)
                for opt in param.opts
                if opt.startswith("--")
            ]
            by_name = {flag[2:].replace("-", "_"): flag for flag in flags}
            near = closest(exc.option_name.lstrip("-").replace("-", "_"), by_name)
            raise click.NoSuchOption(
                exc.option_name, possibilities=[by_name[name] for name in near], ctx=ctx
            ) from None


class IntListType(click.ParamType):  # type: ignore[type-arg] # generic from click 8.2
    """Comma-separated integers (``1,2,3``), for ``__in`` filters."""

    name = "N,N,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        try:
            return [int(item) for item in str(value).split(",") if item.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)


def flag_of(name: str) -> str:
    """``run_number__gte`` -> ``--run-number-gte``."""
    return "--" + name.replace("__", "-").replace("_", "-")


def _describe_filter(name: str) -> str:
    field, _, lookup = name.partition("__")
    text = {
        "gte": f"{field} at least",
        "lte": f"{field} at most",
        "regex": f"{field} matches this regular expression (anywhere, case-sensitive)",
        "in": f"{field} is one of these (comma-separated)",
    }.get(lookup, f"{name} equals")
    if name == "page_size":
        text = f"rows per request (default {_PAGE_SIZE}, the server's maximum)"
    return f"{text}  [filter {name}]" if name != "page_size" else text


def _click_type(info: FieldInfo) -> Any:
    annotation = info.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(annotation) is not list:
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is list:
        return IntListType()
    simple: dict[Any, Any] = {int: click.INT, bool: click.BOOL, float: click.FLOAT}
    return simple.get(annotation, click.STRING)


def filter_options(
    filters: type[BaseFilters], aliases: Mapping[str, str] | None = None
) -> list[click.Option]:
    """One flag per field of ``filters`` (``next_token`` aside), plus ``aliases``."""
    extra: dict[str, list[str]] = {}
    for flag, name in (aliases or {}).items():
        extra.setdefault(name, []).append(flag)
    options = []
    for name, info in filters.model_fields.items():
        if name == "next_token":
            continue
        options.append(
            click.Option(
                [flag_of(name), *extra.get(name, []), _PREFIX + name],
                type=_click_type(info),
                help=_describe_filter(name),
            )
        )
    return options


def _parse_filter_pairs(pairs: Sequence[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="'--filter'")
        parsed[name.strip()] = value
    return parsed


def build_filters(
    filters: type[BaseFilters], flags: Mapping[str, Any], pairs: Sequence[str]
) -> BaseFilters:
    """The route's filter model from the flags and the ``--filter NAME=VALUE`` pairs.

    Raises :class:`~cmsdials.errors.UnknownFilterError` for a misspelt pair name and a
    pydantic ``ValidationError`` for a value of the wrong type.
    """
    values = {
        key[len(_PREFIX) :]: value
        for key, value in flags.items()
        if key.startswith(_PREFIX) and value is not None
    }
    for name, value in _parse_filter_pairs(pairs).items():
        if name in values:
            raise click.UsageError(f"filter {name!r} given twice (as {flag_of(name)} and --filter)")
        values[name] = value
    return filters(**values)


def _common_options(*, listing: bool) -> list[click.Parameter]:
    options: list[click.Parameter] = [
        click.Option(
            ["--format", "fmt"],
            type=click.Choice(FORMATS),
            default="table",
            show_default=True,
            help="output format (parquet needs --output)",
        ),
        click.Option(
            ["--output", "-o"],
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="write to this file (atomically) instead of standard output",
        ),
    ]
    if listing:
        options += [
            click.Option(
                ["--filter", "-f", "pairs"],
                multiple=True,
                metavar="NAME=VALUE",
                help="any filter by its API name (repeatable), e.g. -f run_number__gte=367100",
            ),
            click.Option(["--count"], is_flag=True, help="print only the number of matches"),
            click.Option(["--limit"], type=click.IntRange(min=0), help="at most this many rows"),
        ]
    return options


def _state() -> Any:
    return click.get_current_context().find_root().obj


def _count(route_client: Any, route: Route, chosen: BaseFilters) -> int:
    if route.page is None:
        return len(route_client.list(chosen))
    assert isinstance(chosen, PaginatedFilters)
    if route.count_path is not None:
        params = chosen.with_token(None).model_copy(update={"page_size": None}).to_params()
        answer = route_client.transport.request("GET", route.count_path, decode_json, params=params)
        return int(answer["count"])
    # No count route: walk the pages (largest ones), counting rows.
    return sum(len(page.results) for page in route_client.pages(chosen))


def _rows(route_client: Any, route: Route, chosen: BaseFilters, limit: int | None) -> list[Any]:
    quiet = _state().quiet
    if route.page is None:
        rows = list(route_client.list(chosen))
        return rows if limit is None else rows[:limit]
    if limit is None:
        result = route_client.list_all(chosen, enable_progress=False if quiet else None)
        return list(result.results)
    rows = []
    if limit > 0:
        for page in route_client.pages(chosen):
            rows.extend(page.results)
            if len(rows) >= limit:
                break
    return rows[:limit]


def _list_callback(listing: Listing) -> Callable[..., None]:
    def callback(
        fmt: str,
        output: Path | None,
        pairs: tuple[str, ...],
        count: bool,
        limit: int | None,
        **flags: Any,
    ) -> None:
        route = listing.route
        chosen = build_filters(route.filters, flags, pairs)
        if isinstance(chosen, PaginatedFilters) and chosen.page_size is None:
            size = _PAGE_SIZE if limit is None or count else max(1, min(limit, _PAGE_SIZE))
            chosen.page_size = size
        route_client = getattr(_state().dials(), listing.attr)
        if count:
            click.echo(_count(route_client, route, chosen))
            return
        rows = _rows(route_client, route, chosen, limit)
        emit(rows, route.row, fmt, output, page=route.page)

    return callback


def list_commands() -> list[click.Command]:
    """The generated list commands."""
    commands: list[click.Command] = []
    for listing in LISTINGS:
        route = listing.route
        paged = " (all pages)" if route.page is not None else ""
        commands.append(
            SuggestingCommand(
                listing.name,
                params=[
                    *_common_options(listing=True),
                    *filter_options(route.filters, listing.aliases),
                ],
                callback=_list_callback(listing),
                help=f"List the {listing.summary}{paged}: {route.path} of the API.\n\n"
                "Filters are flags (--help lists them) or -f NAME=VALUE.",
                short_help=f"List the {listing.summary}",
            )
        )
    return commands


def _key_usage(route: Route) -> str:
    required = " ".join(key.upper() for key in route.keys)
    optional = " ".join(f"[{key.upper()}]" for key in route.optional_keys)
    return f"{required} {optional}".strip()


def _get(kind: str, keys: tuple[int, ...], fmt: str, output: Path | None) -> None:
    attr, client = GET_KINDS[kind]
    route: Route = client.route
    if not len(route.keys) <= len(keys) <= len(route.keys) + len(route.optional_keys):
        raise click.UsageError(f"get {kind} takes {_key_usage(route)}")
    state = _state()
    try:
        row = getattr(state.dials(), attr).get(*keys)
    except NotFoundError as exc:
        if (exc.detail or "").startswith("Workspace "):
            raise
        named = ", ".join(
            f"{name}={value}" for name, value in zip(route.keys + route.optional_keys, keys)
        )
        where = f" in workspace {state.workspace!r}" if state.workspace else ""
        raise CommandError(f"no {kind} with {named}{where} (404 from {route.path})") from exc
    model: type[BaseModel] = route.row
    emit([row], model, fmt, output, page=route.page, single=True)


def get_command() -> click.Command:
    """``cmsdials get KIND KEY...``."""
    lines = [f"  {kind:<8} {_key_usage(client.route)}" for kind, (_, client) in GET_KINDS.items()]
    return SuggestingCommand(
        "get",
        params=[
            click.Argument(["kind"], type=click.Choice(list(GET_KINDS)), metavar="KIND"),
            click.Argument(["keys"], nargs=-1, type=click.IntRange(min=0), metavar="KEY..."),
            *_common_options(listing=False),
        ],
        callback=_get,
        help="Show one object by its keys, e.g. `cmsdials get run 14677060 367112`.\n\n"
        "\b\nKinds and their keys:\n" + "\n".join(lines),
        short_help="Show one object by its keys",
    )
