"""The ``ml-models-index/`` route: see ``.client`` and ``.models``."""
