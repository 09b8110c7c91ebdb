"""The ``run/`` route: see ``.client`` and ``.models``."""
