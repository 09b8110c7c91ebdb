"""The ``lumisection/`` route: see ``.client`` and ``.models``."""
