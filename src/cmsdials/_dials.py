"""The :class:`Dials` facade: one object per DIALS instance and workspace."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter

from cmsdials import _route_clients as routes
from cmsdials._closing import Closing
from cmsdials._mes import catalog
from cmsdials._suggest import checked_keywords
from cmsdials._thirdparty import BrilwsClient, CAFClient
from cmsdials._transport import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_TIMEOUT,
    Timeout,
    Transport,
)
from cmsdials.auth.base import BaseCredentials
from cmsdials.oms._client import OMSClient

if TYPE_CHECKING:  # fetch(): its module imports pyarrow helpers lazily
    from collections.abc import Sequence

    from cmsdials.dataset._fetch import FetchReport

__all__ = ["Dials"]


class Dials(Closing):
    """Client of one DIALS instance.

    ::

        from cmsdials import Dials
        from cmsdials.auth.secret_key import Credentials

        dials = Dials(Credentials(token="..."), workspace="tracker")
        dials.h1d.get(dataset_id=14677060, run_number=367112, ls_number=10, me_id=1)

    Parameters
    ----------
    creds:
        A credentials object (:mod:`cmsdials.auth`).
    workspace:
        Workspace to read (``Workspace`` header); ``None`` lets DIALS route you by your
        e-groups (the default workspace for secret keys).
    base_url:
        Server root, production ``https://cmsdials-api.web.cern.ch/`` by default; e.g.
        ``http://localhost:8000/`` for a dials-local.
    route, version:
        API prefix parts, ``api`` and ``v1`` by default.
    timeout:
        ``(connect, read)`` seconds for every request, default ``(5, 300)``.
    pool_maxsize:
        Connections kept open to the server (all routes share one session).
    deadline:
        Seconds for one attempt of a request, connection to last byte (default 600,
        ``None`` for none), however slowly the server sends: then
        :class:`~cmsdials.errors.DeadlineExceededError`, a ``requests.Timeout``.
    max_body:
        Bytes of one answer at most (default 1 GiB, ``None`` for no limit): then
        :class:`~cmsdials.errors.ResponseTooLargeError`, not retried.
    max_retry_after:
        Seconds a server's ``Retry-After`` may make a retry wait, at most (default 120).
    check_me_names:
        Check exact ME names (the ``me=`` filter of th1, th2 and ml-bad-lumisection)
        against the workspace's ``mes/`` listing (one request per client, on first use):
        a name that matches no ME raises :class:`~cmsdials.errors.UnknownMEError` with
        the closest names instead of returning no rows.  ``False`` skips the check
        (also settable later: ``dials.check_me_names = False``).
    transport:
        A ``requests`` transport adapter (``requests.adapters.BaseAdapter``, usually an
        ``HTTPAdapter`` subclass) that carries every request of this client: client
        certificates, custom TLS or connection settings, a recorder, a test transport
        answering from memory.  Mounted on the client's own session for ``http://`` and
        ``https://``; closed by :meth:`close`.
    session:
        A ``requests.Session`` of yours to send every request through, as it is: its
        mounted adapters, ``proxies``, ``verify``, ``cert``, ``trust_env``, headers.  The
        client adds its ``Accept`` and ``User-Agent`` headers per request (unless the
        session sets its own), never changes the session, and leaves it open on
        :meth:`close`.  Not together with ``transport``.

    Whatever adapter carries the requests - the client's own, ``transport``, an adapter
    of ``session``, one mounted later with ``dials.session.mount()`` - stays: ``workers=N``
    grows an ``HTTPAdapter``'s connection pool *in place* (same object, same settings,
    its ``init_poolmanager`` called again with a larger size).  Retries are the client's
    (``retries=``, for bodies broken mid-read too); an adapter's own ``max_retries`` run
    inside each of them, so leave them at ``0``.  The ``deadline`` watches the
    connection of the client's own adapter from the first byte sent; through another
    adapter it covers the body, and connecting and each read stay bounded by
    ``timeout``.

    Attributes
    ----------
    dataset_index, file_index, run, lumi, h1d, h2d, mes, ml_models_index, ml_bad_lumis:
        The data routes (``ml_bad_lumisection`` is another name of ``ml_bad_lumis``).
    oms:
        The OMS proxy: ``query`` (2.4.1's), ``query_all`` (every page as one DataFrame),
        ``pages``, ``lumisections`` (docs/oms.md).
    caf, brilws:
        The official certification JSONs (``caf.get``, ``caf.mask``) and luminosity
        (``brilws.lumi``) (docs/official-json.md).
    workspace:
        The workspace listing (``list``, ``my_workspace``); the workspace name given
        here is :attr:`workspace_name`.
    """

    @checked_keywords()
    def __init__(
        self,
        creds: BaseCredentials,
        workspace: str | None = None,
        base_url: str | None = None,
        route: str | None = None,
        version: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        pool_maxsize: int = 10,
        deadline: float | None = DEFAULT_DEADLINE,
        max_body: int | None = DEFAULT_MAX_BODY,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        check_me_names: bool = True,
        transport: BaseAdapter | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._transport = Transport(
            creds,
            base_url=base_url,
            route=route,
            version=version,
            workspace=workspace,
            timeout=timeout,
            pool_maxsize=pool_maxsize,
            deadline=deadline,
            max_body=max_body,
            max_retry_after=max_retry_after,
            session=session,
            adapter=transport,
        )
        shared = self._transport
        catalog(shared).check_names = check_me_names
        self.dataset_index = routes.DatasetIndexClient(shared)
        self.file_index = routes.FileIndexClient(shared)
        self.h1d = routes.LumisectionHistogram1DClient(shared)
        self.h2d = routes.LumisectionHistogram2DClient(shared)
        self.lumi = routes.LumisectionClient(shared)
        self.run = routes.RunClient(shared)
        self.mes = routes.MonitoringElementClient(shared)
        self.ml_models_index = routes.MLModelsIndexClient(shared)
        self.ml_bad_lumis = routes.MLBadLumisectionClient(shared)
        self.ml_bad_lumisection = self.ml_bad_lumis
        self.oms = OMSClient(shared)
        self.caf = CAFClient(shared)
        self.brilws = BrilwsClient(shared)
        self.workspace = routes.WorkspaceClient(shared)

    @classmethod
    def from_env(
        cls,
        *,
        workspace: str | None = None,
        base_url: str | None = None,
        secret_key: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        interactive: bool | None = None,
        **options: Any,
    ) -> Dials:
        """A client configured by the environment, as the ``cmsdials`` command is.

        ::

            dials = Dials.from_env()                      # DIALS_BASE_URL, DIALS_WORKSPACE, ...
            dials = Dials.from_env(workspace="jetmet")    # a keyword overrides its variable

        Parameters
        ----------
        workspace:
            Default ``$DIALS_WORKSPACE``; neither: the server routes you by your e-groups.
        base_url:
            Default ``$DIALS_BASE_URL``, else the production DIALS.
        secret_key:
            Default ``$DIALS_SECRET_KEY`` (an API-client secret key).  Without one, the
            device-flow tokens cached for the server are used (``cmsdials login``, or
            :meth:`cmsdials.auth.bearer.Credentials.from_creds_file`).
        cache_dir:
            Directory of the credential cache (default: the user's cache directory).
        interactive:
            Whether a device sign-in may start when nothing is cached (default: when
            someone can answer it, see :func:`cmsdials.auth.device.is_interactive`).
        options:
            Any other keyword of :class:`Dials` (``timeout``, ``deadline``, ...).

        Raises
        ------
        cmsdials.errors.NotSignedInError
            No secret key, no cached sign-in, and nobody to sign in.
        """
        from cmsdials._env import dials_from_env

        return dials_from_env(
            cls,
            workspace=workspace,
            base_url=base_url,
            secret_key=secret_key,
            cache_dir=cache_dir,
            interactive=interactive,
            **options,
        )

    @property
    def check_me_names(self) -> bool:
        """Whether exact ME names are checked before a query (see the class doc)."""
        return catalog(self._transport).check_names

    @check_me_names.setter
    def check_me_names(self, value: bool) -> None:
        catalog(self._transport).check_names = bool(value)

    @property
    def workspace_name(self) -> str | None:
        """The workspace sent in the ``Workspace`` header, or ``None``."""
        return self._transport.workspace

    @property
    def base_url(self) -> str:
        """The server root this client talks to."""
        return self._transport.base_url

    @property
    def api_url(self) -> str:
        """``base_url`` + route + version, e.g. ``https://cmsdials-api.web.cern.ch/api/v1/``."""
        return self._transport.api_url

    @property
    def session(self) -> requests.Session:
        """The ``requests.Session`` shared by every route (one connection pool): the
        client's own, or the one given as ``session=``."""
        return self._transport.session

    def close(self) -> None:
        """Close the pooled connections (also done by ``with Dials(...) as dials:``); a
        ``session=`` of yours is left open."""
        self._transport.close()

    def __repr__(self) -> str:
        # The credentials' own repr never shows the secret.
        return (
            f"Dials(creds={self._transport.creds!r}, workspace={self.workspace_name!r}, "
            f"base_url={self.base_url!r})"
        )

    def fetch(
        self,
        path: str | os.PathLike[str],
        *,
        mes: str | Sequence[str] | None = None,
        me_regex: str | None = None,
        datasets: str | int | Sequence[str | int] | None = None,
        dataset_regex: str | None = None,
        runs: int | tuple[int, int] | Sequence[int | tuple[int, int]] | None = None,
        shard: tuple[int, int] | str | None = None,
        workers: int = 1,
        piece_rows: int | None = None,
        progress: bool | None = None,
        verify: bool = False,
        dask_client: Any = None,
    ) -> FetchReport:
        """Fetch a slice of DIALS into a resumable Parquet data set at ``path``.

        ::

            report = dials.fetch(
                "pixel-2023",
                mes=["PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2",
                     "PixelPhase1/Tracks/PXBarrel/clusterposition_zphi_ontrack_PXLayer_1"],
                datasets="/ZeroBias/Run2023C-PromptReco-v1/DQMIO",
                runs=(367000, 368000),
                workers=4,
            )
            data = cmsdials.open_dataset("pixel-2023").to_pandas(me=...)

        The slice (every given selector narrows it; names and regex of one kind add up)
        is cut into pieces - one ME, one dataset, a range of whole runs, about
        ``piece_rows`` rows - each written atomically to
        ``<path>/th1|th2/me_id=<id>/dataset_id=<id>/runs-<first>-<last>.parquet``, with a
        manifest (``_manifest.json``: query, server, workspace, client version, times,
        every piece's status, rows and SHA-256).  Running the same call again skips the
        complete pieces and fetches the rest: interrupted anywhere (even killed), the
        data set ends byte for byte as one uninterrupted run leaves it.  See
        docs/datasets.md.

        Parameters
        ----------
        path:
            The data set directory (created; must be empty or hold this same query).
        mes:
            Exact ME names, 1-D and 2-D alike (the kind comes from the ME).
        me_regex:
            A regular expression of ME names (the server's ``me__regex``).
        datasets:
            Dataset names or ids.  ``None`` with no ``dataset_regex``: every dataset.
        dataset_regex:
            A regular expression of dataset names.
        runs:
            A run, an inclusive range ``(first, last)``, or a list of them; ``None``: all.
        shard:
            ``(i, n)`` or ``"i/n"``: fetch only the i-th of n disjoint shares of the
            pieces (n batch jobs with i = 1..n fetch everything once).
        workers:
            Pieces fetched at once (threads sharing this client's connections).
        piece_rows:
            Rows per piece, about; default ``8_000_000 // bins`` (about 64 MB of bin
            contents).  Only used when the plan is made (the first run).
        progress:
            ``None``: a bar on a terminal, log lines on ``cmsdials.progress`` elsewhere
            when logging shows INFO, else nothing; ``True``: a bar; ``False``: nothing.
        verify:
            Also check the SHA-256 of complete pieces before skipping them (reads them).
        dask_client:
            A ``dask.distributed.Client``: the pieces run as tasks on its cluster.

        Returns
        -------
        cmsdials.dataset.FetchReport
            Pieces fetched, skipped and failed, rows, bytes and time of this call.

        Raises
        ------
        cmsdials.dataset.FetchIncompleteError
            Some pieces failed after their retries (the others were fetched; ``.report``).
        cmsdials.dataset.ManifestMismatchError
            ``path`` holds a data set of another query, server or workspace.
        cmsdials.errors.UnknownMEError, cmsdials.dataset.FetchQueryError
            A bad query: unknown ME (with the closest names) or dataset, no ME matched, a
            bad ``runs`` or ``shard``.
        """
        from cmsdials.dataset._fetch import fetch

        return fetch(
            self,
            path,
            mes=mes,
            me_regex=me_regex,
            datasets=datasets,
            dataset_regex=dataset_regex,
            runs=runs,
            shard=shard,
            workers=workers,
            piece_rows=piece_rows,
            progress=progress,
            verify=verify,
            dask_client=dask_client,
        )
