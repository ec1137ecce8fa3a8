# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one message a refused (403) organisation or RBAC cmdlet gets in the access modules.

exo_client.explain_error names the recipient roles that o365_mailbox_fullaccess needs; the
organisation settings and RBAC for Applications need more, so these modules say so themselves.
"""

from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

ORG_ROLES = ("the Entra role 'Exchange Administrator' (it brings the Exchange role group Organization Management, "
             "which holds the Organization Configuration role that Set-OrganizationConfig and Set-CASMailbox need)")
RBAC_ROLES = ("the Entra role 'Exchange Administrator' and, in Exchange, the 'Role Management' role (part of "
              "Organization Management) that New-ServicePrincipal, New-ManagementScope and "
              "New-ManagementRoleAssignment need")


class AccessDenied(ConfigurationError):
    """Exchange Online refused a cmdlet: the app running the module lacks a role."""


def refused(error, needs):
    """An AccessDenied for a refused cmdlet (403, or 401 'not allowed to call'), naming the roles in ``needs``.

    Any other error is returned unchanged.
    """
    if not isinstance(error, ExoError) or error.kind not in ("forbidden", "rbac"):
        return error
    cmdlet = getattr(error, "cmdlet", None) or "the request"
    detail = error.diagnostics if error.kind == "forbidden" else error.message
    return AccessDenied("Exchange Online refused %s (%s): the app that runs this module has no Exchange role that allows "
                        "it%s. Fix: give the app's service principal %s, then wait a few minutes for the role to apply."
                        % (cmdlet, error.status or 403, " (%s)" % detail if detail else "", needs))
