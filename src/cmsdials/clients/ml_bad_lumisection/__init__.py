"""The ``ml-bad-lumisection/`` route: see ``.client`` and ``.models``."""
