"""``caf/`` and ``brilws/brilcalc-lumi/`` (CONTRACT §7.11): official JSONs and luminosity.

``CAFClient.get(class_name, kind)`` returns the latest golden, muon or DCS JSON of a CAF
class name as a :class:`CertificationFile` (``.mask`` is a
:class:`cmsdials.lumi.LumiMask`); ``BrilwsClient.lumi(...)`` runs ``brilcalc lumi``
through DIALS and returns a pandas DataFrame (``.attrs["summary"]`` and
:meth:`BrilwsClient.summary` give the totals).  Both routes are outside workspaces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmsdials._decode import decode_json
from cmsdials._optional import require
from cmsdials._route_clients import _UnscopedClient
from cmsdials._suggest import checked_keywords, closest
from cmsdials._transport import Retries
from cmsdials.errors import ResponseDecodeError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from cmsdials.lumi import LumiMask

__all__ = ["KINDS", "UNITS", "BrilwsClient", "CAFClient", "CertificationFile"]

#: Kinds of certification JSON (``kind=``).
KINDS = ("golden", "muon", "dcs")
#: Integrated-luminosity units of ``unit=``.
UNITS = ("/mb", "/ub", "/nb", "/pb", "/fb", "/ab")
SCOPES = ("all", "detailed", "summary")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    """``value`` when it is one of ``valid``; otherwise a ValueError naming the closest."""
    if value in valid:
        return value
    raise ValueError(
        f"{name}={value!r} is not valid{did_you_mean(closest(value, valid))}; "
        f"choose one of {', '.join(valid)}"
    )


@dataclass(frozen=True)
class CertificationFile:
    """One certification JSON of the CMS CAF area, as ``caf/`` returns it.

    Attributes
    ----------
    name, url:
        The file's name and where the CAF area keeps it.
    last_modified:
        When it was written (``"YYYY-MM-DD HH:MM"`` as served; ``modified`` parses it).
    size:
        The size the CAF listing shows (``"35K"``).
    content:
        The compact JSON: run (str) -> list of inclusive ``[first, last]`` ranges.
    """

    name: str
    url: str
    last_modified: str
    size: str
    content: dict[str, list[list[int]]] = field(repr=False)

    @classmethod
    def from_json(cls, document: Any) -> CertificationFile:
        """Build from the route's answer; a ResponseDecodeError for another shape."""
        if not isinstance(document, Mapping) or not isinstance(document.get("content"), dict):
            raise ResponseDecodeError(
                f"caf/ answered {type(document).__name__}, not a file with a 'content' object"
            )
        return cls(
            name=str(document.get("name", "")),
            url=str(document.get("url", "")),
            last_modified=str(document.get("last_modified", "")),
            size=str(document.get("size", "")),
            content=dict(document["content"]),
        )

    @property
    def modified(self) -> dt.datetime | None:
        """:attr:`last_modified` as a datetime (``None`` when it does not parse)."""
        try:
            return dt.datetime.strptime(self.last_modified, "%Y-%m-%d %H:%M")
        except ValueError:
            return None

    @property
    def mask(self) -> LumiMask:
        """The content as a :class:`cmsdials.lumi.LumiMask`."""
        from cmsdials.lumi import LumiMask

        return LumiMask(self.content)


class CAFClient(_UnscopedClient):
    """``caf/``: the latest golden, muon or DCS JSON of a CAF class name (no workspace)."""

    path = "caf/"

    @checked_keywords()
    def get(
        self, class_name: str, kind: str = "golden", retries: Retries = None
    ) -> CertificationFile:
        """The latest ``kind`` JSON of ``class_name`` (e.g. ``"Collisions24"``).

        Raises
        ------
        ValueError
            ``kind`` is not golden, muon or dcs (checked before any request).
        cmsdials.errors.APIError
            404 when the CAF area has no such file.
        """
        _choice("kind", kind, KINDS)
        document = self._transport.request(
            "GET",
            self.path,
            decode_json,
            params={"class_name": class_name, "kind": kind},
            retries=retries,
            workspace_scoped=False,
        )
        return CertificationFile.from_json(document)

    @checked_keywords()
    def mask(self, class_name: str, kind: str = "golden", retries: Retries = None) -> LumiMask:
        """``get(class_name, kind).mask``: the file as a LumiMask."""
        return self.get(class_name, kind, retries=retries).mask


class BrilwsClient(_UnscopedClient):
    """``brilws/brilcalc-lumi/``: ``brilcalc lumi`` run by DIALS (no workspace)."""

    path = "brilws/brilcalc-lumi/"

    def _query(
        self,
        scope: str,
        runnumber: int | None,
        fillnum: int | None,
        begin: int | str | None,
        end: int | str | None,
        byls: bool,
        unit: str,
        beamstatus: str | None,
        normtag: str | None,
        amodetag: str | None,
        connect: str | None,
        brilws_version: str | None,
        retries: Retries,
    ) -> Any:
        _choice("unit", unit, UNITS)
        if runnumber is None and fillnum is None and begin is None and end is None:
            raise ValueError("give runnumber, fillnum, or begin/end: brilcalc needs a selection")
        params: dict[str, str] = {"unit": unit, "byls": "true" if byls else "false", "scope": scope}
        optional = {
            "runnumber": runnumber,
            "fillnum": fillnum,
            "begin": begin,
            "end": end,
            "beamstatus": beamstatus,
            "normtag": normtag,
            "amodetag": amodetag,
            "connect": connect,
            "brilws_version": brilws_version,
        }
        params.update({name: str(value) for name, value in optional.items() if value is not None})
        return self._transport.request(
            "GET", self.path, decode_json, params=params, retries=retries, workspace_scoped=False
        )

    @checked_keywords()
    def raw(
        self,
        runnumber: int | None = None,
        fillnum: int | None = None,
        begin: int | str | None = None,
        end: int | str | None = None,
        byls: bool = False,
        unit: str = "/ub",
        *,
        scope: str = "all",
        beamstatus: str | None = None,
        normtag: str | None = None,
        amodetag: str | None = None,
        connect: str | None = None,
        brilws_version: str | None = None,
        retries: Retries = None,
    ) -> Any:
        """The route's JSON as it is (``{"detailed": [...], "summary": {...}}`` for
        ``scope="all"``)."""
        _choice("scope", scope, SCOPES)
        return self._query(
            scope, runnumber, fillnum, begin, end, byls, unit, beamstatus, normtag,
            amodetag, connect, brilws_version, retries,
        )  # fmt: skip

    @checked_keywords()
    def lumi(
        self,
        runnumber: int | None = None,
        fillnum: int | None = None,
        begin: int | str | None = None,
        end: int | str | None = None,
        byls: bool = False,
        unit: str = "/ub",
        *,
        beamstatus: str | None = None,
        normtag: str | None = None,
        amodetag: str | None = None,
        connect: str | None = None,
        brilws_version: str | None = None,
        retries: Retries = None,
    ) -> pd.DataFrame:
        """Delivered and recorded luminosity per run (or per lumisection with ``byls``).

        Parameters
        ----------
        runnumber, fillnum, begin, end:
            The selection, as ``brilcalc lumi -r/-f/--begin/--end`` take it (begin/end:
            a run number, a fill number or a time ``"mm/dd/yy HH:MM:SS"``); one is needed.
        byls:
            One row per lumisection (columns ``ls_number``, ``cms_ls``, ``beamstatus``,
            ``E(GeV)``, ``avgpu``, ``source``) instead of one per run (``nls``, ``ncms``).
        unit:
            ``/ub`` (default), ``/mb``, ``/nb``, ``/pb``, ``/fb`` or ``/ab``: the unit of
            the ``delivered(<unit>)`` and ``recorded(<unit>)`` columns.
        beamstatus, normtag, amodetag, connect, brilws_version:
            Passed to brilcalc as they are.

        Returns
        -------
        pandas.DataFrame
            Columns ``run_number``, ``fill_number`` first; ``time`` as datetimes (UTC);
            ``.attrs["summary"]`` holds the route's summary.
        """
        pandas = require("pandas", "pandas", "brilws.lumi()")
        document = self._query(
            "all", runnumber, fillnum, begin, end, byls, unit, beamstatus, normtag,
            amodetag, connect, brilws_version, retries,
        )  # fmt: skip
        if not isinstance(document, Mapping) or not isinstance(document.get("detailed"), list):
            raise ResponseDecodeError("brilws/brilcalc-lumi/ answered without a 'detailed' list")
        frame = _frame(pandas, document["detailed"], byls, unit)
        frame.attrs["summary"] = dict(document.get("summary") or {})
        return frame

    @checked_keywords()
    def summary(
        self,
        runnumber: int | None = None,
        fillnum: int | None = None,
        begin: int | str | None = None,
        end: int | str | None = None,
        unit: str = "/ub",
        *,
        beamstatus: str | None = None,
        normtag: str | None = None,
        amodetag: str | None = None,
        retries: Retries = None,
    ) -> dict[str, Any]:
        """The totals: ``nfill``, ``nrun``, ``nls``, ``ncms``, ``totdelivered(<unit>)``,
        ``totrecorded(<unit>)``."""
        document = self._query(
            "summary", runnumber, fillnum, begin, end, False, unit, beamstatus, normtag,
            amodetag, None, None, retries,
        )  # fmt: skip
        if not isinstance(document, dict):
            raise ResponseDecodeError("brilws/brilcalc-lumi/ answered no summary object")
        return document


def _frame(pandas: Any, rows: list[Any], byls: bool, unit: str) -> pd.DataFrame:
    """brilcalc rows as a frame keyed by run (and lumisection)."""
    frame = pandas.DataFrame.from_records(rows)
    lumi = [f"delivered({unit})", f"recorded({unit})"]
    if byls:
        columns = ["run_number", "ls_number", "cms_ls", "fill_number", "time", "beamstatus",
                   "E(GeV)", *lumi, "avgpu", "source"]  # fmt: skip
    else:
        columns = ["run_number", "fill_number", "time", "nls", "ncms", *lumi]
    if frame.empty:
        return pandas.DataFrame({name: [] for name in columns})
    frame = frame.rename(columns={"run": "run_number", "fill": "fill_number"})
    if byls:
        # "ls" is "LS:CMSLS" (CMS LS 0 when CMS was not recording)
        parts = frame.pop("ls").astype(str).str.split(":", n=1, expand=True)
        frame["ls_number"] = parts[0].astype("int64")
        frame["cms_ls"] = (parts[1] if parts.shape[1] > 1 else parts[0]).astype("int64")
    else:
        for name in ("nls", "ncms"):
            frame[name] = frame[name].astype("int64")
    frame["time"] = pandas.to_datetime(frame["time"], format="%m/%d/%y %H:%M:%S", utc=True)
    ordered = [name for name in columns if name in frame.columns]
    rest = [name for name in frame.columns if name not in ordered]
    return frame[ordered + rest].reset_index(drop=True)
