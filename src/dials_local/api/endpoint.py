"""The declaration of one endpoint of the route table (:class:`Endpoint`).

Vocabulary of the server: a :class:`~dials_local.listing.declaration.Resource` declares
one kind of DIALS data (table, fields, filters, ordering); each of its URLs (list, count,
retrieve) is an :class:`Endpoint`, as is every other URL the API serves.  (The client's
``Route`` is what the server calls a ``Resource``: one kind of data, seen from outside.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from dials_local.api.context import Call
from dials_local.listing.declaration import Resource
from dials_local.paths import API_PREFIX

Handler = Callable[[Call], Response]
Kind = Literal["list", "count", "retrieve", "composite", "custom"]


@dataclass(frozen=True)
class Endpoint:
    """One URL of the API: its path, methods, credentials, parameters and handler.

    ``path`` is relative to ``/api/v1/`` unless it starts with ``/``.  Path parameters are
    written ``{name}``: ``{pk}`` matches one segment without ``.`` (DRF's default lookup,
    so ``mes/abc/`` reaches the view and gets ``Not found.``); every other parameter
    matches digits only (``run/1/abc/`` is an unmatched path: HTML 404).
    """

    path: str
    handler: Handler
    kind: Kind = "custom"
    methods: tuple[str, ...] = ("GET",)
    auth: bool = True
    workspace: bool = True
    #: Query parameters the route reads, in declaration order.
    query_params: tuple[str, ...] = ()
    #: JSON body keys of POST requests.
    body_params: tuple[str, ...] = ()
    resource: Resource | None = None
    #: DRF-style view name for OPTIONS answers.
    view_name: str = ""
    summary: str = ""

    @property
    def full_path(self) -> str:
        """The path below the server root, e.g. ``/api/v1/run/{dataset_id}/{run_number}/``."""
        return self.path if self.path.startswith("/") else API_PREFIX + self.path

    @property
    def starlette_path(self) -> str:
        """The path with Starlette convertors (``{pk:lookup}``, ``{x:digits}``)."""
        return re.sub(
            r"\{(\w+)\}",
            lambda m: f"{{{m[1]}:{'lookup' if m[1] == 'pk' else 'digits'}}}",
            self.full_path,
        )

    @property
    def path_params(self) -> list[str]:
        """Names of the path parameters, in path order."""
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def allowed_methods(self) -> tuple[str, ...]:
        """Methods in DRF's ``Allow`` order: GET, POST, ..., HEAD, OPTIONS."""
        order = ("GET", "POST", "PUT", "PATCH", "DELETE")
        listed = [m for m in order if m in self.methods]
        if "GET" in self.methods:
            listed.append("HEAD")
        return (*listed, "OPTIONS")
