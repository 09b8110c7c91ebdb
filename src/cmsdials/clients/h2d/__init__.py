"""The ``th2/`` route: see ``.client`` and ``.models``."""
