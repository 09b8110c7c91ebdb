"""The ``mes/`` route: see ``.client`` and ``.models``."""
