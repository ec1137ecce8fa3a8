# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The organisation's EWS access policy: ``EwsEnabled`` and the ``EwsAllowedAppIDs`` allow list.

What Microsoft documents (office-docs-powershell Set-OrganizationConfig.md, PR 13643 and 13657):

- ``-EwsAllowedAppIDs`` is a String: a comma-separated list of application (client) IDs. A
  value replaces the whole list (it is not a multi-valued property that takes
  ``@{Add=...; Remove=...}``), and ``$null`` clears it. So a change is always the full list,
  computed from a fresh read: the entries of other apps are kept as they are.
- The list is read back only with ``Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy``;
  published scripts see it as a comma-separated string, so both shapes (string or list) are read.
- ``EwsEnabled``: ``$true`` = only the listed apps can use EWS; ``$false`` = no app can;
  ``$null`` (not configured) = the list has no effect. Microsoft set tenants still at ``$null``
  without an allow list to ``$false`` on 1 October 2026. Changes take up to 24 hours to apply.
"""

from __future__ import annotations

import re

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PROPAGATION_WARNING = ("Exchange Online can take up to 24 hours to apply a change of EwsEnabled or EwsAllowedAppIDs: "
                       "until then EWS requests may still be allowed or refused as before.")


class EwsPolicyError(ConfigurationError):
    """The EWS policy options cannot be used, or Exchange did not keep a change."""


def canonical_guid(value):
    """The lower-case form of a GUID (braces and spaces dropped), or None when it is not one."""
    text = str(value or "").strip().strip("{}").strip()
    return text.lower() if GUID_RE.match(text) else None


def check_app_ids(option, values):
    """The app IDs as canonical GUIDs (duplicates dropped); fails on anything else."""
    app_ids, bad = [], []
    for value in values or []:
        guid = canonical_guid(value)
        if guid is None:
            bad.append(str(value))
        elif guid not in app_ids:
            app_ids.append(guid)
    if bad:
        raise EwsPolicyError("%s must be application (client) IDs, GUIDs such as 00000000-0000-0000-0000-000000000000; "
                             "not: %s. Fix: copy the Application (client) ID from the app registration in Entra ID."
                             % (option, ", ".join(bad)))
    if not app_ids:
        raise EwsPolicyError("%s is empty. Fix: list the Application (client) ID of the MSE app registration." % option)
    return app_ids


def parse_allow_list(value):
    """The allow list as read -> list of entries as stored.

    Three shapes are public: None, one comma-separated string, and a list whose elements may
    themselves be comma-joined strings (a field report saw three IDs come back as ONE array
    element). Every element is split on commas, so all read the same.
    """
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items if item is not None for part in str(item).split(",") if part.strip()]


def parse_enabled(value):
    """EwsEnabled as read: True, False or None (not configured)."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


class EwsPolicy:
    """EwsEnabled and the allow list, with entries kept as stored (other apps' entries untouched)."""

    def __init__(self, enabled, allowed):
        self.enabled = enabled
        self.allowed = list(allowed)

    def lists(self, app_id):
        """True when the allow list holds this app ID (in any case or GUID format)."""
        return any(canonical_guid(entry) == app_id for entry in self.allowed)

    def allows(self, app_id):
        """Whether the policy lets this app use EWS: True, False, or None when EwsEnabled is not configured."""
        if self.enabled is None:
            return None
        return bool(self.enabled) and self.lists(app_id)

    def as_dict(self):
        """The policy as the module reports it (and shows in the diff)."""
        return {"ews_enabled": self.enabled, "ews_allowed_app_ids": list(self.allowed)}

    def __eq__(self, other):
        return isinstance(other, EwsPolicy) and self.enabled == other.enabled and self.allowed == other.allowed

    def __hash__(self):
        return hash((self.enabled, tuple(self.allowed)))


def read_policy(client):
    """The current policy: EwsEnabled from Get-OrganizationConfig, the list with -RetrieveEwsOperationAccessPolicy."""
    config = client.invoke("Get-OrganizationConfig", {}).value
    listing = client.invoke("Get-OrganizationConfig", {"RetrieveEwsOperationAccessPolicy": True}).value
    if not config or not listing:
        raise EwsPolicyError("Get-OrganizationConfig returned no organisation configuration, so nothing was changed.")
    return EwsPolicy(parse_enabled(config[0].get("EwsEnabled")), parse_allow_list(listing[0].get("EwsAllowedAppIDs")))


def desired_policy(current, app_ids, state):
    """The policy after this run.

    present: EwsEnabled true, and every app ID listed (added at the end of the list).
    absent: only our app IDs leave the list; EwsEnabled stays as it is (other apps may rely on it).
    """
    if state == "present":
        missing = [app_id for app_id in app_ids if not current.lists(app_id)]
        return EwsPolicy(True, current.allowed + missing)
    kept = [entry for entry in current.allowed if canonical_guid(entry) not in app_ids]
    return EwsPolicy(current.enabled, kept)


def set_parameters(current, desired):
    """The Set-OrganizationConfig parameters that turn ``current`` into ``desired`` ({} when nothing changes).

    The list goes as one comma-separated string (the parameter's documented type), or $null when
    it becomes empty (the documented way to clear it). Both settings go in one call, as in
    Microsoft's example, so the list is in place when EwsEnabled becomes true.
    """
    parameters = {}
    if desired.allowed != current.allowed:
        parameters["EwsAllowedAppIDs"] = ",".join(desired.allowed) if desired.allowed else None
    if desired.enabled != current.enabled:
        parameters["EwsEnabled"] = desired.enabled
    return parameters


def apply_policy(client, current, desired):
    """Write the change and read it back; returns the policy Exchange now holds."""
    parameters = set_parameters(current, desired)
    if not parameters:
        return current
    client.invoke("Set-OrganizationConfig", parameters)
    stored = read_policy(client)
    if stored.enabled != desired.enabled or [canonical_guid(e) or e for e in stored.allowed] != \
            [canonical_guid(e) or e for e in desired.allowed]:
        raise EwsPolicyError("Exchange Online accepted Set-OrganizationConfig but reads back EwsEnabled=%s, "
                             "EwsAllowedAppIDs=%s instead of EwsEnabled=%s, EwsAllowedAppIDs=%s. Run the task again; if it "
                             "persists, check the tenant's EWS settings by hand."
                             % (stored.enabled, ",".join(stored.allowed), desired.enabled, ",".join(desired.allowed)))
    return stored


def policy_warnings(before, after, app_ids):
    """What a person should know about the policy change (besides the 24-hour delay)."""
    warnings = []
    if before.enabled is not True and after.enabled is True:
        others = [entry for entry in after.allowed if canonical_guid(entry) not in app_ids]
        warnings.append("EwsEnabled was %s and is now true: from now on only the apps in EwsAllowedAppIDs can use EWS "
                        "(%d other app(s) listed: %s). Add every other app that still needs EWS to the list."
                        % ("not configured ($null)" if before.enabled is None else "false", len(others),
                           ", ".join(others) or "none"))
    if after.enabled is True and not after.allowed:
        warnings.append("EwsAllowedAppIDs is now empty while EwsEnabled is true: no app can use EWS.")
    if after.enabled is None:
        warnings.append("EwsEnabled is not configured ($null), so the allow list has no effect; Microsoft set such tenants "
                        "to false on 1 October 2026.")
    if after.enabled is False:
        warnings.append("EwsEnabled is false: no app can use EWS, whatever the allow list says.")
    return warnings


def effective_access(policy, app_ids):
    """For each of our app IDs: can it use EWS under this policy (True, False, None = not configured)."""
    return {app_id: policy.allows(app_id) for app_id in app_ids}
