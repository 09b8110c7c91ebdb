"""``dials-local ingest-oms FILE... [--endpoint NAME]``: load OMS JSON:API documents.

Registered by :func:`dials_local.cli.build_parser` (one call to :func:`add_command`); the
loading itself is :func:`dials_local.data.oms_ingest.ingest_oms`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_command", "cmd_ingest_oms"]

_ENDPOINTS = ("runs", "lumisections", "fills", "datasetrates")  # oms_ingest.ENDPOINTS


def add_command(commands: Any) -> None:
    """Add ``ingest-oms`` to the sub-commands of ``dials-local`` (an argparse
    ``_SubParsersAction``)."""
    from dials_local.cli import _add_location

    parser = commands.add_parser(
        "ingest-oms",
        help="load OMS records (JSON:API documents saved from OMS) for oms-proxy/",
        description="Load OMS JSON:API documents as saved from the OMS API: one document "
        "per file, a JSON array of documents (pages), or one document per line. Records "
        "replace the stored ones of the same run (runs, lumisections), fill (fills) or "
        "run and dataset (datasetrates). All files are one transaction: a bad record "
        "is reported with file, line/page, data[i] and field, and nothing is loaded.",
    )
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE", help="JSON files")
    parser.add_argument(
        "--endpoint",
        choices=_ENDPOINTS,
        help="the endpoint of every record (default: each record's 'type')",
    )
    _add_location(parser)
    parser.set_defaults(func=cmd_ingest_oms)


def cmd_ingest_oms(args: argparse.Namespace) -> int:
    """``dials-local ingest-oms``."""
    from dials_local.cli import INTERRUPTED_EXIT, CommandError, _open_database, _print
    from dials_local.data.oms_ingest import OMSIngestError, ingest_oms

    database = _open_database(args)
    try:
        result = ingest_oms(database, args.files, args.endpoint)
    except OMSIngestError as error:
        raise CommandError(f"dials-local ingest-oms: {error}") from None
    except KeyboardInterrupt:
        raise CommandError(
            "dials-local ingest-oms: interrupted; nothing was loaded (a load is one transaction)",
            INTERRUPTED_EXIT,
        ) from None
    finally:
        database.dispose()
    lines = [
        f"Loaded {count} OMS {name} records (replacing {result.replaced[name]}) into "
        f"{database.describe()}."
        for name, count in result.loaded.items()
    ]
    _print(*(lines or ["No OMS records in the files: nothing loaded."]))
    return 0
