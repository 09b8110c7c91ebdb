"""Models of ``workspaces/``: none, the workspace routes return raw JSON."""

__all__: list[str] = []
