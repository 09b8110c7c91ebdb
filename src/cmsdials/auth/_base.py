"""The 2.x path of the credential interface: :mod:`cmsdials.auth.base` under another name.

``from cmsdials.auth._base import BaseCredentials`` gives the very class every credential
of this package derives from.
"""

from cmsdials.auth.base import BaseCredentials, TokenState
from cmsdials.auth.exceptions import ImpossibleToRefreshTokenError

__all__ = ["BaseCredentials", "ImpossibleToRefreshTokenError", "TokenState"]
