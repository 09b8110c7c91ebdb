"""The ``workspaces/`` route: see ``.client`` and ``.models``."""
