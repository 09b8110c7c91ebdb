"""The DIALS routes, each declared once (CONTRACT §1.1, §5.3, §7).

A declaration (a :class:`~cmsdials._route.Route`) names the route's path, key fields,
row/page/filter models and ordering; ``get``/``list``/``list_all`` come from the generic
classes in ``_resources.py``.  The few route-specific operations (cert/golden JSON, the
OMS proxy, workspaces) are small methods on top of the same transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import TypeAdapter

from cmsdials import _filters as filters
from cmsdials import _models as models
from cmsdials._decode import decode_json
from cmsdials._resources import PaginatedResource, UnpaginatedResource, transport_for
from cmsdials._route import Route
from cmsdials._suggest import checked_keywords
from cmsdials._transport import DEFAULT_TIMEOUT, Retries, Timeout, Transport
from cmsdials.auth.base import BaseCredentials
from cmsdials.errors import APIError
from cmsdials.utils._base_client import BaseAPIClient

if TYPE_CHECKING:
    from cmsdials.lumi import LumiMask
    from cmsdials.lumi._mask import JSONSource

__all__ = [
    "DatasetIndexClient",
    "FileIndexClient",
    "LumisectionClient",
    "LumisectionHistogram1DClient",
    "LumisectionHistogram2DClient",
    "MLBadLumisectionClient",
    "MLModelsIndexClient",
    "MonitoringElementClient",
    "OMSProxyClient",
    "RunClient",
    "WorkspaceClient",
]

_HISTOGRAM_KEYS = ("dataset_id", "run_number", "ls_number", "me_id")


class _DaskQuery:
    """``to_dask`` of the th1/th2 routes (the work is in ``cmsdials.dataset._dask``)."""

    @checked_keywords()
    def to_dask(self, filters: Any = None, *, workers: int = 8, retries: Retries = None) -> Any:
        """The query as a Dask DataFrame (needs the ``dask`` extra).

        The query is cut as ``list_all(workers=...)`` cuts it (by dataset and run range,
        about ``3 x workers`` slices, planned now with two small listings); each slice
        is one partition, walked by a Dask task with a client of its own (the
        credentials are sent to the workers).  ``compute()`` gives the rows of
        ``list_all(filters).to_pandas()`` in the same order, with the same columns and
        dtypes; each partition's index starts at 0 (``reset_index(drop=True)`` after
        computing for one index).
        """
        from cmsdials.dataset._dask import query_to_dask

        resource: Any = self
        return query_to_dask(
            resource, resource._paginated_filters(filters), workers=workers, retries=retries
        )


class DatasetIndexClient(
    PaginatedResource[
        models.DatasetIndex, filters.DatasetIndexFilters, models.PaginatedDatasetIndexList
    ]
):
    """``dataset-index/``: the DQMIO datasets.  ``get(dataset_id)``."""

    # The incumbent asked for dataset-index/{dataset_id}/{file_id}/, a route that does not
    # exist (CONTRACT §14.2 #2); the single-key route is the real one.
    route = Route(
        path="dataset-index/",
        row=models.DatasetIndex,
        filters=filters.DatasetIndexFilters,
        page=models.PaginatedDatasetIndexList,
        keys=("dataset_id",),
        ordering=("dataset_id",),
    )


class FileIndexClient(
    PaginatedResource[models.FileIndex, filters.FileIndexFilters, models.PaginatedFileIndexList]
):
    """``file-index/``: the DQMIO files and their ingestion status."""

    route = Route(
        path="file-index/",
        row=models.FileIndex,
        filters=filters.FileIndexFilters,
        page=models.PaginatedFileIndexList,
        keys=("dataset_id", "file_id"),
        ordering=("dataset_id", "file_id"),
        count_path="file-index/count/",
    )


class RunClient(PaginatedResource[models.Run, filters.RunFilters, models.PaginatedRunList]):
    """``run/``: runs per dataset."""

    route = Route(
        path="run/",
        row=models.Run,
        filters=filters.RunFilters,
        page=models.PaginatedRunList,
        keys=("dataset_id", "run_number"),
        ordering=("dataset_id", "run_number"),
        count_path="run/count/",
    )


class LumisectionClient(
    PaginatedResource[
        models.Lumisection, filters.LumisectionFilters, models.PaginatedLumisectionList
    ]
):
    """``lumisection/``: lumisections per run, with ME counts."""

    route = Route(
        path="lumisection/",
        row=models.Lumisection,
        filters=filters.LumisectionFilters,
        page=models.PaginatedLumisectionList,
        keys=("dataset_id", "run_number", "ls_number"),
        ordering=("dataset_id", "run_number", "ls_number"),
        count_path="lumisection/count/",
    )


class LumisectionHistogram1DClient(
    _DaskQuery,
    PaginatedResource[
        models.LumisectionHistogram1D,
        filters.LumisectionHistogram1DFilters,
        models.PaginatedLumisectionHistogram1DList,
    ],
):
    """``th1/``: 1-D histograms per lumisection and ME."""

    route = Route(
        path="th1/",
        row=models.LumisectionHistogram1D,
        filters=filters.LumisectionHistogram1DFilters,
        page=models.PaginatedLumisectionHistogram1DList,
        keys=_HISTOGRAM_KEYS,
        ordering=_HISTOGRAM_KEYS,
    )


class LumisectionHistogram2DClient(
    _DaskQuery,
    PaginatedResource[
        models.LumisectionHistogram2D,
        filters.LumisectionHistogram2DFilters,
        models.PaginatedLumisectionHistogram2DList,
    ],
):
    """``th2/``: 2-D histograms per lumisection and ME."""

    route = Route(
        path="th2/",
        row=models.LumisectionHistogram2D,
        filters=filters.LumisectionHistogram2DFilters,
        page=models.PaginatedLumisectionHistogram2DList,
        keys=_HISTOGRAM_KEYS,
        ordering=_HISTOGRAM_KEYS,
    )


class MonitoringElementClient(UnpaginatedResource[models.MonitoringElement, filters.MEFilters]):
    """``mes/``: the monitoring elements of the workspace (not paginated).

    ``list()`` returns a plain ``list[MonitoringElement]``; ``get(me_id)`` one ME (``id=``
    is accepted too, the incumbent's name).
    """

    route = Route(
        path="mes/",
        row=models.MonitoringElement,
        filters=filters.MEFilters,
        keys=("me_id",),
        key_aliases={"id": "me_id"},
        ordering=("me_id",),
    )


class MLModelsIndexClient(
    PaginatedResource[
        models.MLModelsIndex, filters.MLModelsIndexFilters, models.PaginatedMLModelsIndexList
    ]
):
    """``ml-models-index/``: the ML models of the workspace.  ``get(model_id)``."""

    route = Route(
        path="ml-models-index/",
        row=models.MLModelsIndex,
        filters=filters.MLModelsIndexFilters,
        page=models.PaginatedMLModelsIndexList,
        keys=("model_id",),
        ordering=("model_id",),
    )


_INT_LIST: TypeAdapter[list[int]] = TypeAdapter(filters.IntList)


class MLBadLumisectionClient(
    PaginatedResource[
        models.MLBadLumisection,
        filters.MLBadLumisectionFilters,
        models.PaginatedMLBadLumisectionList,
    ]
):
    """``ml-bad-lumisection/``: lumisections flagged by ML models, and the JSON reports.

    ``get(model_id, dataset_id, run_number, ls_number, me_id=None)``: with ``me_id`` the
    5-segment route of the original API, without it the 4-segment route of the newer one.
    """

    route = Route(
        path="ml-bad-lumisection/",
        row=models.MLBadLumisection,
        filters=filters.MLBadLumisectionFilters,
        page=models.PaginatedMLBadLumisectionList,
        keys=("model_id", "dataset_id", "run_number", "ls_number"),
        optional_keys=("me_id",),
        ordering=("model_id", "dataset_id", "run_number", "ls_number", "me_id"),
    )

    # Set (on the instance) once a server answered 405 to the GET form of the JSON
    # reports: go straight to POST afterwards.
    _post_only = False

    def _report(
        self,
        name: str,
        model_id__in: Sequence[int] | int | str,
        dataset_id__in: Sequence[int] | int | str,
        run_number__in: Sequence[int] | int | str,
        retries: Retries,
    ) -> Any:
        lists = {
            "model_id__in": _INT_LIST.validate_python(model_id__in),
            "dataset_id__in": _INT_LIST.validate_python(dataset_id__in),
            "run_number__in": _INT_LIST.validate_python(run_number__in),
        }
        path = f"{self.route.path}{name}/"
        if not self._post_only:
            params = {key: ",".join(map(str, values)) for key, values in lists.items()}
            try:
                return self._transport.request(
                    "GET", path, decode_json, params=params, retries=retries
                )
            except APIError as exc:
                # The newer DIALS takes only the POST form (CONTRACT §7.9.1, 23b).
                if exc.status_code != 405:
                    raise
                self._post_only = True
        return self._transport.request("POST", path, decode_json, json=lists, retries=retries)

    @checked_keywords()
    def cert_json(
        self,
        model_id__in: Sequence[int],
        dataset_id__in: Sequence[int],
        run_number__in: Sequence[int],
        *,
        retries: Retries = None,
    ) -> dict[str, Any]:
        """Per-LS model flags: ``{run: {ls: [{model_id, me_id, filename, me, mse}, ...]}}``.

        Raw JSON (no model, no ``to_pandas``).  Every requested run is a key, even
        without flags.  Sent as a GET with comma-separated lists; when the server only
        accepts the POST form (405) the JSON-body POST is used.
        """
        result: dict[str, Any] = self._report(
            "cert-json", model_id__in, dataset_id__in, run_number__in, retries
        )
        return result

    @checked_keywords()
    def golden_json(
        self,
        model_id__in: Sequence[int],
        dataset_id__in: Sequence[int],
        run_number__in: Sequence[int],
        *,
        retries: Retries = None,
    ) -> dict[str, Any]:
        """Good lumisection ranges per run, CMS golden-JSON style: ``{run: [[first, last]]}``.

        An LS is left out when any of the models flagged it.  Raw JSON; GET with a POST
        fallback as :meth:`cert_json`.
        """
        result: dict[str, Any] = self._report(
            "golden-json", model_id__in, dataset_id__in, run_number__in, retries
        )
        return result

    # -- the same reports as lumi masks (cmsdials.lumi, docs/lumi.md) ---------------------

    @checked_keywords()
    def golden_mask(
        self,
        model_id__in: Sequence[int],
        dataset_id__in: Sequence[int],
        run_number__in: Sequence[int],
        *,
        retries: Retries = None,
    ) -> LumiMask:
        """:meth:`golden_json` as a :class:`~cmsdials.lumi.LumiMask`: the lumisections of
        the runs that DIALS knows for the datasets (``lumisection/`` rows) and that no
        model flagged for any ME (CONTRACT §7.9.2)."""
        from cmsdials.lumi import LumiMask

        return LumiMask(
            self.golden_json(model_id__in, dataset_id__in, run_number__in, retries=retries)
        )

    @checked_keywords()
    def bad_mask(
        self,
        model_id__in: Sequence[int],
        dataset_id__in: Sequence[int],
        run_number__in: Sequence[int],
        *,
        retries: Retries = None,
    ) -> LumiMask:
        """:meth:`cert_json` as a :class:`~cmsdials.lumi.LumiMask`: the lumisections that at
        least one of the models flagged, for any ME, in any of the datasets (CONTRACT
        §7.9.1)."""
        from cmsdials.lumi import LumiMask

        return LumiMask.from_results(
            self.cert_json(model_id__in, dataset_id__in, run_number__in, retries=retries)
        )

    @checked_keywords()
    def json_portal(
        self,
        model_id__in: Sequence[int],
        dataset_id__in: Sequence[int],
        run_number__in: Sequence[int],
        golden: LumiMask | JSONSource | None = None,
        dcs: LumiMask | JSONSource | None = None,
        *,
        retries: Retries = None,
    ) -> LumiMask:
        """DIALS' "JSON portal" in one call: the lumisections good for ML and certified.

        The result holds a lumisection of one of ``run_number__in`` exactly when

        1. DIALS has it for one of ``dataset_id__in`` (a ``lumisection/`` row), and
        2. none of ``model_id__in`` flagged it (any ME, any of the datasets), and
        3. it is in ``golden`` (when given), and
        4. it is in ``dcs`` (when given).

        That is ``golden_mask(...) & golden & dcs``.  ``golden`` and ``dcs`` take a
        :class:`~cmsdials.lumi.LumiMask` or anything
        :meth:`~cmsdials.lumi.LumiMask.from_json` reads (a path, a URL, JSON text, a dict,
        a ``caf/`` answer); ``None`` leaves that condition out.
        """
        from cmsdials.lumi import LumiMask

        # The files first: a bad path fails before any request.
        others = [LumiMask.from_json(source) for source in (golden, dcs) if source is not None]
        return self.golden_mask(
            model_id__in, dataset_id__in, run_number__in, retries=retries
        ).intersection(*others)


class _UnscopedClient(BaseAPIClient):
    """A route outside any workspace: ``(creds, base_url, route, version)``, or the
    :class:`Transport` of a :class:`~cmsdials.Dials`."""

    path: ClassVar[str]
    #: Default ``(connect, read)`` timeout of the requests (configurable on ``Dials``).
    default_timeout: ClassVar[Timeout] = DEFAULT_TIMEOUT

    def __init__(
        self,
        creds: BaseCredentials | Transport,
        base_url: str | None = None,
        route: str | None = None,
        version: str | None = None,
    ) -> None:
        self._transport = transport_for(creds, None, base_url, route, version)
        super().__init__(self._transport.base_url, self._transport.route, self._transport.version)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.lookup_url = cls.path  # the 2.x name

    lookup_url: ClassVar[str]

    @property
    def creds(self) -> BaseCredentials:
        """The credentials every request is sent with."""
        return self._transport.creds

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._transport.url(self.path)}>"


class OMSProxyClient(_UnscopedClient):
    """``oms-proxy/``: queries to CMS OMS through DIALS (no workspace)."""

    path = "oms-proxy/"

    @checked_keywords()
    def query(
        self,
        endpoint: str,
        filters: Sequence[models.OMSFilter] | None = None,
        pages: Sequence[models.OMSPage] | None = None,
        retries: Retries = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The OMS JSON:API document of ``endpoint`` (``runs``, ``lumisections``, ...).

        ``filters`` become ``filter[<attribute>][<OP>]=<value>``, ``pages``
        ``page[<name>]=<value>``; ``params`` adds other OMS parameters (``fields``,
        ``sort``, ``include``).  Returns the raw JSON (``meta.totalResourceCount`` holds
        the number of matches).
        """
        query: list[tuple[str, str]] = [("endpoint", endpoint)]
        for item in filters or ():
            query.append((f"filter[{item.attribute_name}][{item.operator}]", str(item.value)))
        for page in pages or ():
            query.append((f"page[{page.attribute_name}]", str(page.value)))
        query.extend((params or {}).items())
        result: dict[str, Any] = self._transport.request(
            "GET", self.path, decode_json, params=query, retries=retries, workspace_scoped=False
        )
        return result


class WorkspaceClient(_UnscopedClient):
    """``workspaces/``: the workspaces DIALS knows and the caller's default one."""

    path = "workspaces/"

    @checked_keywords()
    def list(self, retries: Retries = None) -> Any:
        """``GET workspaces/`` as raw JSON (e.g. ``{"workspaces": ["csc", ...]}``)."""
        return self._transport.request(
            "GET", self.path, decode_json, retries=retries, workspace_scoped=False
        )

    @checked_keywords()
    def my_workspace(self, retries: Retries = None) -> Any:
        """``GET workspaces/my-default/`` as raw JSON (e.g. ``{"workspace": "tracker"}``)."""
        return self._transport.request(
            "GET", self.path + "my-default/", decode_json, retries=retries, workspace_scoped=False
        )
