"""The ``th1/`` route: see ``.client`` and ``.models``."""
