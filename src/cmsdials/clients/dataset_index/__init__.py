"""The ``dataset-index/`` route: see ``.client`` and ``.models``."""
