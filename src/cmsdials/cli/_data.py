"""``golden-json``, ``cert-json``, ``fetch`` and ``audit``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cmsdials.cli._app import State, cli
from cmsdials.cli._lists import SuggestingCommand
from cmsdials.cli._output import emit_json

__all__ = ["audit", "fetch", "parse_runs"]

#: Runs a range of ``golden-json``/``cert-json`` may expand to (they take run lists).
_MAX_EXPANDED_RUNS = 100_000


def parse_runs(texts: Sequence[str]) -> list[int | tuple[int, int]]:
    """``["367100-367200,367300"]`` -> ``[(367100, 367200), 367300]``.

    Raises ``click.BadParameter`` naming the part that is neither a run nor a range.
    """
    runs: list[int | tuple[int, int]] = []
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            first, sep, last = part.partition("-")
            try:
                if sep:
                    low, high = int(first), int(last)
                    if low > high:
                        raise click.BadParameter(
                            f"{part!r}: the range runs backwards (first-last, first <= last)"
                        )
                    runs.append((low, high))
                else:
                    runs.append(int(part))
            except ValueError:
                raise click.BadParameter(
                    f"{part!r} is not a run number or a range FIRST-LAST "
                    "(e.g. 367100-367200,367300)"
                ) from None
    return runs


def _ints(texts: Sequence[str], what: str) -> list[int]:
    values = []
    for text in texts:
        for part in text.split(","):
            if part.strip():
                try:
                    values.append(int(part))
                except ValueError:
                    raise click.BadParameter(f"{part.strip()!r} is not an integer {what}") from None
    return values


def _expanded(runs: list[int | tuple[int, int]]) -> list[int]:
    numbers: list[int] = []
    for item in runs:
        if isinstance(item, tuple):
            if item[1] - item[0] + 1 > _MAX_EXPANDED_RUNS:
                raise click.BadParameter(f"the range {item[0]}-{item[1]} holds too many runs")
            numbers.extend(range(item[0], item[1] + 1))
        else:
            numbers.append(item)
    return numbers


def _report_command(name: str, method: str, summary: str) -> click.Command:
    def callback(models: tuple[str, ...], datasets: tuple[str, ...], runs: tuple[str, ...],
                 output: Path | None) -> None:  # fmt: skip
        state: State = click.get_current_context().find_root().obj
        answer = getattr(state.dials().ml_bad_lumis, method)(
            _ints(models, "model id"),
            _ints(datasets, "dataset id"),
            _expanded(parse_runs(runs)),
        )
        emit_json(answer, output)

    return SuggestingCommand(
        name,
        params=[
            click.Option(
                ["--model", "-m", "models"],
                multiple=True,
                required=True,
                metavar="ID[,ID...]",
                help="ML model ids (repeatable)",
            ),
            click.Option(
                ["--dataset", "-d", "datasets"],
                multiple=True,
                required=True,
                metavar="ID[,ID...]",
                help="dataset ids (repeatable)",
            ),
            click.Option(
                ["--run", "-r", "runs"],
                multiple=True,
                required=True,
                metavar="RUNS",
                help="run numbers and ranges, e.g. 367100-367200,367300 (repeatable)",
            ),
            click.Option(
                ["--output", "-o"],
                type=click.Path(dir_okay=False, path_type=Path),
                help="write the JSON to this file (atomically)",
            ),
        ],
        callback=callback,
        help=summary,
        short_help=summary.split(":")[0],
    )


cli.add_command(
    _report_command(
        "golden-json",
        "golden_json",
        "Good lumisection ranges per run by the ML flags: {run: [[first, last], ...]} "
        "(an LS any of the models flagged is left out).",
    )
)
cli.add_command(
    _report_command(
        "cert-json",
        "cert_json",
        "Per-lumisection ML flags: {run: {ls: [{model_id, me_id, me, filename, mse}]}}.",
    )
)


class _ShardType(click.ParamType):  # type: ignore[type-arg] # generic from click 8.2
    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        first, sep, second = text.partition("/")
        try:
            index, count = int(first), int(second)
        except ValueError:
            index, count = 0, 0
        if not sep or not 1 <= index <= count:
            self.fail(f"{text!r} is not a shard I/N with 1 <= I <= N (e.g. 2/3)", param, ctx)
        return (index, count)


@cli.command(cls=SuggestingCommand)
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--me", "mes", multiple=True, help="an ME by exact name (repeatable; th1 and th2)")
@click.option("--me-regex", help="MEs whose names match this regular expression")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="a dataset by name or id (repeatable)",
)
@click.option("--dataset-regex", help="datasets whose names match this regular expression")
@click.option(
    "--runs",
    "runs",
    multiple=True,
    metavar="RUNS",
    help="runs and inclusive ranges, e.g. 367100-367200,367300 (repeatable)",
)
@click.option("--shard", type=_ShardType(), help="fetch only share I of N (for N batch jobs)")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="pieces at once"
)
@click.option("--piece-rows", type=click.IntRange(min=1), help="rows per piece, about")
@click.option("--verify", is_flag=True, help="check the checksums of complete pieces")
@click.pass_obj
def fetch(
    state: State,
    path: Path,
    mes: tuple[str, ...],
    me_regex: str | None,
    datasets: tuple[str, ...],
    dataset_regex: str | None,
    runs: tuple[str, ...],
    shard: tuple[int, int] | None,
    workers: int,
    piece_rows: int | None,
    verify: bool,
) -> None:
    """Fetch a slice of DIALS (th1 and th2 histograms) into the data set at PATH.

    One Parquet file per piece (ME, dataset, run range), written atomically, and a
    manifest. Run it again to finish an interrupted fetch: complete pieces are skipped.
    """
    chosen: list[str | int] = [int(item) if item.isdigit() else item for item in datasets]
    report = state.dials().fetch(
        path,
        mes=list(mes) or None,
        me_regex=me_regex,
        datasets=chosen or None,
        dataset_regex=dataset_regex,
        runs=parse_runs(runs) or None,
        shard=shard,
        workers=workers,
        piece_rows=piece_rows,
        progress=False if state.quiet else None,
        verify=verify,
    )
    click.echo(str(report))


@cli.command(cls=SuggestingCommand)
@click.argument("path", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--offline", is_flag=True, help="check the files only, do not ask the server")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="pieces at once"
)
@click.pass_obj
def audit(state: State, path: Path, offline: bool, workers: int) -> None:
    """Check the data set at PATH: every piece there, no duplicated (run, ls, ME) row, and
    (unless --offline) the same rows as the server. Exit code 1 when something is wrong.

    The server and workspace are the data set's (its manifest).
    """
    from cmsdials._dials import Dials
    from cmsdials._env import credentials_from_env
    from cmsdials.dataset._audit import audit as audit_dataset
    from cmsdials.dataset._manifest import Manifest

    dials = None
    if not offline:
        manifest = Manifest.load(path)
        creds = credentials_from_env(
            manifest.server, secret_key=state.secret_key(), interactive=False
        )
        state.base_url = manifest.server  # errors name the server actually asked
        dials = Dials(creds, workspace=manifest.workspace, base_url=manifest.server)
    try:
        report = audit_dataset(
            path, dials, workers=workers, progress=False if state.quiet else None
        )
    finally:
        if dials is not None:
            dials.close()
    click.echo(str(report))
    if not report.ok:
        raise click.exceptions.Exit(1)
