"""The workspaces of CONTRACT §4.1 and the role-based default routing of §4.3."""

from __future__ import annotations

from collections.abc import Iterable

#: Workspace name -> the Keycloak role (e-group) that routes a user to it, in the
#: configured order of production DIALS (order matters for §4.3 routing).
WORKSPACE_ROLES: dict[str, str] = {
    "csc": "cms-dqm-runregistry-offline-csc-certifiers",
    "ecal": "cms-dqm-runregistry-offline-ecal-certifiers",
    "egamma": "cms-dqm-runregistry-offline-egamma-certifiers",
    "hcal": "cms-dqm-runregistry-offline-hcal-certifiers",
    "jetmet": "cms-dqm-runregistry-offline-jme-certifiers",
    "muon_staging": "fake",
    "tracker": "cms-dqm-runregistry-offline-tracker-certifiers",
}

WORKSPACES: tuple[str, ...] = tuple(WORKSPACE_ROLES)
DEFAULT_WORKSPACE = "tracker"


def default_workspace_for(roles: Iterable[str] | None) -> str:
    """The workspace a caller without a ``Workspace`` header is routed to (CONTRACT §4.3).

    The first configured workspace whose role is among ``roles`` wins; callers with no
    roles (API-client secret keys, tokens without ``cern_roles``) get the default.
    """
    held = set(roles or ())
    for workspace, role in WORKSPACE_ROLES.items():
        if role in held:
            return workspace
    return DEFAULT_WORKSPACE
