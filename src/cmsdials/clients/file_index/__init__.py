"""The ``file-index/`` route: see ``.client`` and ``.models``."""
