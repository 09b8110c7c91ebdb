"""Client of ``workspaces/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import WorkspaceClient

__all__ = ["WorkspaceClient"]
