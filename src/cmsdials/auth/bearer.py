"""The usage guide's name for device-flow credentials: :mod:`cmsdials.auth.device`.

::

    from cmsdials.auth.bearer import Credentials
    creds = Credentials.from_creds_file()

``cmsdials.auth.bearer.Credentials`` and ``cmsdials.auth.device.Credentials`` are the same
class.
"""

from cmsdials.auth.device import Credentials

__all__ = ["Credentials"]
