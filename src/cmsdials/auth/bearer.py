"""The usage guide's name for device-flow credentials: :mod:`cmsdials.auth.device`.

::

    from cmsdials.auth.bearer import Credentials
    creds = Credentials.from_creds_file()

``cmsdials.auth.bearer.Credentials`` and ``cmsdials.auth.device.Credentials`` are the same
class.
"""

from cmsdials.auth.client import AuthClient
from cmsdials.auth.device import Credentials
from cmsdials.auth.models import Token

#: The 2.x name of the device-flow credentials (the same class as ``Credentials``).
DeviceCredentials = Credentials

__all__ = ["AuthClient", "Credentials", "DeviceCredentials", "Token"]
