"""The ``oms-proxy/`` route: see ``.client`` and ``.models``."""
