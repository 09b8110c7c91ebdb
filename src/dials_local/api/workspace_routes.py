"""Workspace routes (CONTRACT §4.4): the configured list and the caller's default.

``auth/workspaces/`` and ``auth/user-default-workspace/`` are B112's; C241 calls
``workspaces/`` and ``workspaces/my-default/``, served with the same bodies.
"""

from __future__ import annotations

from starlette.responses import Response

from dials_local.api.context import Call
from dials_local.render import json_response
from dials_local.workspaces import WORKSPACES, default_workspace_for


def workspace_list(call: Call) -> Response:
    """``{"workspaces": [...]}`` in configured order."""
    return json_response({"workspaces": list(WORKSPACES)})


def default_workspace(call: Call) -> Response:
    """``{"workspace": "<name>"}``: where a request without ``Workspace`` header goes."""
    roles = call.identity.roles if call.identity is not None else ()
    return json_response({"workspace": default_workspace_for(roles)})
