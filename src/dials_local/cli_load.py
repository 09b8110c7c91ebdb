"""``dials-local load-certification`` and ``load-lumi``: the files ``caf/`` and
``brilws/brilcalc-lumi/`` answer from (CONTRACT §7.11).

Each load is one transaction; a bad file is refused with the line and field at fault and
nothing of it is loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def add_load_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register both commands on the ``dials-local`` sub-command parser."""
    from dials_local.cli import _add_location
    from dials_local.data.certification import KINDS

    cert = commands.add_parser(
        "load-certification",
        help="load a golden, muon or DCS JSON for caf/",
        description='Load a certification JSON ({"run": [[first, last], ...]}) as a file of '
        "the CAF area: caf/?class_name=...&kind=... answers the latest file of a class name "
        "and kind (by --last-modified, default now).",
    )
    cert.add_argument("file", type=Path, metavar="FILE", help="the JSON file")
    cert.add_argument("--class-name", required=True, help="the CAF folder, e.g. Collisions24")
    cert.add_argument("--kind", required=True, choices=KINDS, help="which JSON it is")
    cert.add_argument("--name", help="the file name served (default: FILE's name)")
    cert.add_argument("--url", help="the URL served (default: where the CAF area keeps it)")
    cert.add_argument(
        "--last-modified",
        metavar="'YYYY-MM-DD HH:MM'",
        type=_moment,
        help="when the file was certified (UTC; default: now)",
    )
    _add_location(cert)
    cert.set_defaults(func=cmd_load_certification)

    lumi = commands.add_parser(
        "load-lumi",
        help="load brilcalc lumi --byls output for brilws/brilcalc-lumi/",
        description="Load the luminosity per lumisection that brilcalc lumi --byls wrote "
        "(-o file.csv, any -u unit; or the JSON of brilws/brilcalc-lumi/?byls=true). The "
        "runs of the file replace those loaded or synthetic before.",
    )
    lumi.add_argument("file", type=Path, metavar="FILE", help="the .csv or .json file")
    _add_location(lumi)
    lumi.set_defaults(func=cmd_load_lumi)


def _moment(text: str) -> dt.datetime:
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not 'YYYY-MM-DD HH:MM'")


def cmd_load_certification(args: argparse.Namespace) -> int:
    from dials_local.cli import CommandError, _open_database, _print
    from dials_local.data.thirdparty_load import LoadError, load_certification

    database = _open_database(args)
    try:
        file = load_certification(
            database,
            args.file,
            args.class_name,
            args.kind,
            name=args.name,
            url=args.url,
            last_modified=args.last_modified,
        )
    except LoadError as error:
        raise CommandError(f"dials-local load-certification: {error}; nothing loaded") from None
    finally:
        database.dispose()
    lumis = sum(last - first + 1 for ranges in file.content.values() for first, last in ranges)
    _print(
        f"Loaded {file.name} ({args.kind} of {args.class_name}, {len(file.content)} runs, "
        f"{lumis} lumisections) into {database.describe()}."
    )
    return 0


def cmd_load_lumi(args: argparse.Namespace) -> int:
    from dials_local.cli import CommandError, _open_database, _print
    from dials_local.data.thirdparty_load import LoadError, load_lumi

    database = _open_database(args)
    try:
        rows = load_lumi(database, args.file)
    except LoadError as error:
        raise CommandError(f"dials-local load-lumi: {error}; nothing loaded") from None
    finally:
        database.dispose()
    runs = len({row.run_number for row in rows})
    _print(
        f"Loaded {len(rows)} lumisections of {runs} runs from {args.file} "
        f"into {database.describe()}."
    )
    return 0
