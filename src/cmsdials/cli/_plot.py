"""``cmsdials plot``: an ME in a run (from DIALS or a fetched data set) to PNG or PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cmsdials.cli._app import State, cli
from cmsdials.cli._data import parse_runs
from cmsdials.cli._lists import SuggestingCommand

__all__ = ["plot"]

#: The plots, and whether each draws th1 (True) or th2 (False) histograms.
KINDS = {
    "lumisection-map": True,
    "trend": True,
    "overlay": True,
    "map": False,
    "compare": False,
}


def _ls_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    numbers: list[int] = []
    for item in parse_runs([text]):  # the same FIRST-LAST,N syntax as runs
        if isinstance(item, tuple):
            numbers.extend(range(item[0], item[1] + 1))
        else:
            numbers.append(item)
    return numbers


def _flags(state: State, me: str, run: int, models: tuple[int, ...], mask: Path | None,
           lss: str | None) -> Any:  # fmt: skip
    """What ``--flag-model``, ``--flag-json`` and ``--flag-ls`` mark, as one LumiMask."""
    from cmsdials.lumi import LumiMask

    flags = LumiMask()
    if models:
        table = state.dials().ml_bad_lumis.list_all(
            {"me": me, "run_number": run, "model_id__in": list(models)},
            enable_progress=False if state.quiet else None,
        )
        flags = flags | LumiMask.from_results(table)
    if mask is not None:
        flags = flags | LumiMask.from_json(mask).select_runs(run)
    if lss:
        flags = flags | LumiMask.from_pairs((run, ls) for ls in _ls_list(lss) or [])
    return flags


def _rows(state: State, th1: bool, me: str, run: int, source: Path | None) -> Any:
    if source is not None:
        from cmsdials.dataset import open_dataset

        return open_dataset(source).to_numpy(me=me, runs=run, kind="th1" if th1 else "th2")
    route = state.dials().h1d if th1 else state.dials().h2d
    return route.list_all(
        {"me": me, "run_number": run}, enable_progress=False if state.quiet else None
    )


@cli.command(cls=SuggestingCommand)
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.argument("me")
@click.option("--run", type=int, required=True, help="the run to draw")
@click.option("--dataset", help="the dataset (name or id), when the run is in several")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the image to write: .png, .pdf or .svg",
)
@click.option(
    "--from-dataset",
    "source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="read a data set written by `cmsdials fetch`, not DIALS",
)
@click.option(
    "--flag-model",
    "models",
    type=int,
    multiple=True,
    help="mark the lumisections this ML model flagged (repeatable)",
)
@click.option(
    "--flag-json",
    "mask",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="mark the lumisections of this lumi-mask JSON",
)
@click.option("--flag-ls", "lss", help="mark these lumisections (e.g. 10-12,40)")
@click.option(
    "--stat",
    default="mean",
    show_default=True,
    help="trend: statistics, comma-separated (mean, rms, entries, mpv, integral)",
)
@click.option("--ls", "ls_text", help="overlay: lumisections (e.g. 1-20,40); map: one")
@click.option("--normalize", is_flag=True, help="divide each histogram (or map) by its sum")
@click.option("--reference-run", type=int, help="compare: the reference run")
@click.option(
    "--how",
    type=click.Choice(["ratio", "difference"]),
    default="ratio",
    show_default=True,
    help="compare: what to draw",
)
@click.option("--label", default="Preliminary", show_default=True, help='the text beside "CMS"')
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=100, show_default=True)
@click.pass_obj
def plot(state: State, kind: str, me: str, run: int, dataset: str | None, output: Path,
         source: Path | None, models: tuple[int, ...], mask: Path | None, lss: str | None,
         stat: str, ls_text: str | None, normalize: bool, reference_run: int | None, how: str,
         label: str, dpi: int) -> None:  # fmt: skip
    """Draw an ME of a run as KIND (lumisection-map, trend, overlay, map, compare) into a
    PNG, PDF or SVG file, in CMS style, with flagged lumisections marked."""
    from cmsdials._optional import require

    require("matplotlib", "plot", "cmsdials plot")
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    from cmsdials.plot import Plots

    th1 = KINDS[kind]
    if kind == "compare" and reference_run is None:
        raise click.UsageError("compare needs --reference-run")
    if output.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise click.BadParameter(
            f"{output.name}: write a .png, .pdf or .svg file", param_hint="--output"
        )
    flags = _flags(state, me, run, models, mask, lss)
    plots = Plots(_rows(state, th1, me, run, source), me=me, run=run, dataset=dataset)
    wanted = _ls_list(ls_text)
    if kind == "lumisection-map":
        drawn = plots.lumisection_map(flags=flags, normalize=normalize, label=label)
    elif kind == "trend":
        stats = [name.strip() for name in stat.split(",") if name.strip()]
        drawn = plots.trend(stats, flags=flags, label=label)
    elif kind == "overlay":
        drawn = plots.overlay(wanted, flags=flags, normalize=normalize, label=label)
    elif kind == "map":
        first = wanted[0] if wanted else None
        drawn = (
            plots.map(ls=first, flags=flags, label=label)
            if first is not None
            else plots.map(0, flags=flags, label=label)
        )
    else:
        assert reference_run is not None
        reference = _rows(state, th1, me, reference_run, source)
        # Runs differ in length: their maps are compared normalised, always.
        drawn = plots.compare(reference, how, reference_run=reference_run, flags=flags, label=label)
    try:
        written = drawn.savefig(output, dpi=dpi)
    finally:
        plt.close(drawn.figure)
    if not state.quiet:
        click.echo(f"wrote {written}", err=True)
