# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBAC for Applications: give an Entra app a scoped Exchange application role.

The steps Microsoft documents (learn.microsoft.com/exchange/permissions-exo/application-rbac):
a service principal pointer (``New-ServicePrincipal -AppId -ObjectId``), optionally a management
scope (``New-ManagementScope -RecipientRestrictionFilter``) or an administrative unit, then
``New-ManagementRoleAssignment -App -Role [-CustomResourceScope | -RecipientAdministrativeUnitScope]``,
checked with ``Test-ServicePrincipalAuthorization``.

Which identity ``-App`` takes is documented two ways (office-docs-powershell: "the ObjectId GUID
value from the output of the Get-ServicePrincipal cmdlet"; Microsoft365DSC: "the ServiceId GUID
value"). So the pointer is looked up and the GUID Exchange returns is passed: its ``ServiceId``
when it has one, else its ``ObjectId``, else its ``Identity``. ``Get-ServicePrincipal -Identity``
with an unknown value returns every pointer (documented), so pointers are listed and matched
by AppId here.

What this module owns, and so changes or removes:
- the role assignment named ``assignment_name`` (by default ``<role without "Application ">-<app id>``)
  when its assignee is the app's pointer. Other assignments, of this app or any other, are only
  reported. A name that belongs to another assignee is an error.
- the management scope named ``scope_name`` (by default ``MSE-<app id>``), changed or removed only
  while no assignment other than its own uses it;
- the pointer, removed with state=absent only when its DisplayName is ``display_name`` (what the
  module sets) and no role assignment uses it any more.
"""

from __future__ import annotations

import re

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import canonical_guid

DEFAULT_ROLE = "Application EWS.AccessAsApp"
ROLE_PREFIX = "Application "
DEFAULT_DISPLAY_NAME = "Mimecast Synchronization Engine"
MAX_NAME = 64
APP = object()  # placeholder for the -App value, known once the pointer exists


class RbacError(ConfigurationError):
    """The options cannot be applied as they are; the message says what to change."""


class VerificationFailed(ConfigurationError):
    """Test-ServicePrincipalAuthorization disagrees with what was asked: the scope or the samples need a fix."""


def _is_true(value):
    return value is True or str(value).strip().lower() == "true"


def normalize_filter(text):
    """A recipient filter compared loosely: outer braces dropped, whitespace collapsed."""
    text = str(text or "").strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return re.sub(r"\s+", " ", text).strip()


class Wanted:
    """What the options ask for, checked."""

    def __init__(self, params):
        self.app_id = canonical_guid(params["app_id"])
        if self.app_id is None:
            raise RbacError("app_id %r is not a GUID. Fix: use the Application (client) ID of the MSE app registration."
                            % params["app_id"])
        self.object_id = None
        if params["service_principal_object_id"]:
            self.object_id = canonical_guid(params["service_principal_object_id"])
            if self.object_id is None:
                raise RbacError("service_principal_object_id %r is not a GUID. Fix: copy the Object ID from Entra ID, "
                                "Enterprise applications, the MSE app (not the app registration's Object ID)."
                                % params["service_principal_object_id"])
        self.role = params["role"].strip()
        if not self.role.lower().startswith(ROLE_PREFIX.lower()):
            raise RbacError("role %r is not an application role of RBAC for Applications (their names start with "
                            "'Application ', e.g. 'Application EWS.AccessAsApp')." % params["role"])
        self.display_name = params["display_name"]
        self.admin_unit = None
        if params["admin_unit"]:
            self.admin_unit = canonical_guid(params["admin_unit"])
            if self.admin_unit is None:
                raise RbacError("admin_unit %r is not a GUID. Fix: use the Object ID of the administrative unit in Entra ID."
                                % params["admin_unit"])
        self.recipient_filter = normalize_filter(params["recipient_filter"]) if params["recipient_filter"] else None
        if params["recipient_filter"] is not None and not self.recipient_filter:
            raise RbacError("recipient_filter is empty. Fix: give an OPATH filter such as \"Department -eq 'Sales'\", or "
                            "leave it out for every mailbox.")
        if params["scope_name"] and not self.recipient_filter and params["state"] == "present":
            raise RbacError("scope_name names the management scope of recipient_filter. Fix: give recipient_filter, or "
                            "drop scope_name.")
        self.scope_name = (params["scope_name"] or "MSE-%s" % self.app_id).strip()
        self.assignment_name = (params["assignment_name"] or
                                "%s-%s" % (self.role[len(ROLE_PREFIX):], self.app_id)).strip()
        for option, value in (("assignment_name", self.assignment_name), ("scope_name", self.scope_name)):
            if not value or len(value) > MAX_NAME:
                raise RbacError("%s must be 1 to %d characters long, not %d." % (option, MAX_NAME, len(value)))

    @property
    def scope_key(self):
        """(kind, value) of the resource scope asked for."""
        if self.recipient_filter:
            return ("scope", self.scope_name.lower())
        if self.admin_unit:
            return ("admin_unit", self.admin_unit)
        return ("organization", None)

    def describe_scope(self):
        """The resource scope asked for, for people."""
        kind, _value = self.scope_key
        if kind == "scope":
            return "management scope %s (%s)" % (self.scope_name, self.recipient_filter)
        if kind == "admin_unit":
            return "administrative unit %s" % self.admin_unit
        return "the whole organisation"


def pointer_names(pointer):
    """Every lower-case value that names a pointer (RoleAssignee shows one of them)."""
    return {str(pointer[key]).lower() for key in ("Identity", "Name", "Id", "ObjectId", "ServiceId", "AppId", "DisplayName")
            if pointer.get(key)}


def app_parameter(pointer):
    """The -App value: the GUID Exchange returned for the pointer (ServiceId, else ObjectId, else Identity)."""
    for key in ("ServiceId", "ObjectId", "Identity"):
        if pointer.get(key):
            return str(pointer[key])
    raise RbacError("Get-ServicePrincipal returned a service principal without ServiceId, ObjectId or Identity: %r" % pointer)


def assignment_scope(record):
    """(kind, value) of a role assignment's resource scope."""
    if record.get("CustomResourceScope"):
        return ("scope", str(record["CustomResourceScope"]).lower())
    unit = record.get("RecipientAdministrativeUnitScope") or (
        record.get("CustomRecipientWriteScope") if str(record.get("RecipientWriteScope")) == "AdministrativeUnit" else None)
    if unit:
        return ("admin_unit", canonical_guid(unit) or str(unit).lower())
    return ("organization", None)


def summarize_assignment(record):
    """A role assignment as the module reports it."""
    kind, value = assignment_scope(record)
    scope = {"scope": record.get("CustomResourceScope"), "admin_unit": value, "organization": "Organization"}[kind]
    return {"name": record.get("Name") or record.get("Identity"), "role": record.get("Role"), "scope_type": kind,
            "scope": scope}


def summarize_pointer(pointer):
    """A pointer as the module reports it."""
    if pointer is None:
        return None
    return {"app_id": pointer.get("AppId"), "identity": app_parameter(pointer), "display_name": pointer.get("DisplayName")}


def assigned_to(record, pointer):
    """True when a role assignment's assignee is this pointer."""
    return pointer is not None and str(record.get("RoleAssigneeType") or "ServicePrincipal") == "ServicePrincipal" \
        and str(record.get("RoleAssignee") or "").lower() in pointer_names(pointer)


class Step:
    """One write: a cmdlet, its parameters (APP stands for the pointer's -App value) and what it does."""

    def __init__(self, cmdlet, parameters, what):
        self.cmdlet = cmdlet
        self.parameters = parameters
        self.what = what


class RbacReader:
    """The reads a plan needs, each answering None for 'not found'."""

    def __init__(self, client):
        self.client = client
        self._all_assignments = None

    def one(self, cmdlet, identity):
        """The first record of Get-X -Identity, or None when Exchange says it does not exist."""
        try:
            records = self.client.invoke(cmdlet, {"Identity": identity}).value
        except ExoError as exc:
            if exc.kind != "not_found":
                raise
            return None
        return records[0] if records else None

    def pointer(self, app_id):
        """The app's pointer: every pointer is listed and matched by AppId (see module docstring)."""
        for record in self.client.invoke("Get-ServicePrincipal", {}).value:
            if canonical_guid(record.get("AppId")) == app_id:
                return record
        return None

    def assignments(self):
        """Every role assignment (read once)."""
        if self._all_assignments is None:
            self._all_assignments = list(self.client.invoke("Get-ManagementRoleAssignment", {}).value)
        return self._all_assignments

    def application_roles(self):
        """Names of the application roles, for an error message."""
        return sorted(str(record.get("Name")) for record in self.client.invoke("Get-ManagementRole", {}).value
                      if str(record.get("Name", "")).startswith(ROLE_PREFIX))


class RbacPlan:
    """Reads the tenant, checks every conflict, and lists the writes (nothing is written here)."""

    def __init__(self, client, wanted, state):
        self.read = RbacReader(client)
        self.wanted = wanted
        self.state = state
        self.steps = []
        self.warnings = []
        self.pointer = None
        self.scope = None
        self.assignment = None
        self.others = []

    def build(self, verify_mailboxes=()):
        """Fill ``steps``; raises RbacError before any write when the options conflict with the tenant."""
        wanted = self.wanted
        self.pointer = self.read.pointer(wanted.app_id)
        self.assignment = self.read.one("Get-ManagementRoleAssignment", wanted.assignment_name)
        if self.assignment is not None and not assigned_to(self.assignment, self.pointer):
            raise RbacError("a role assignment named %r exists for %s, not for app %s, so it is not this module's. "
                            "Nothing was changed. Fix: choose another assignment_name."
                            % (wanted.assignment_name, self.assignment.get("RoleAssignee"), wanted.app_id))
        if wanted.recipient_filter or self.state == "absent":
            self.scope = self.read.one("Get-ManagementScope", wanted.scope_name)
        if self.state == "present":
            self._plan_present(verify_mailboxes)
        else:
            self._plan_absent()
        return self

    # -- present -------------------------------------------------------------------------

    def _plan_present(self, verify_mailboxes):
        wanted = self.wanted
        if self.read.one("Get-ManagementRole", wanted.role) is None:
            raise RbacError("Exchange Online has no role %r. Nothing was changed. Application roles: %s."
                            % (wanted.role, ", ".join(self.read.application_roles())))
        for mailbox in verify_mailboxes:
            if self.read.one("Get-Mailbox", mailbox) is None:
                raise RbacError("the mailbox %s to verify with does not exist in Exchange Online. Nothing was changed."
                                % mailbox)
        if self.pointer is None:
            if not wanted.object_id:
                raise RbacError("app %s has no service principal in Exchange Online yet, and creating one needs the Object "
                                "ID of its Entra service principal. Nothing was changed. Fix: set "
                                "service_principal_object_id (Entra ID, Enterprise applications, the app, Object ID)."
                                % wanted.app_id)
            self.steps.append(Step("New-ServicePrincipal", {"AppId": wanted.app_id, "ObjectId": wanted.object_id,
                                                            "DisplayName": wanted.display_name},
                                   "create the service principal pointer for app %s" % wanted.app_id))
        if wanted.recipient_filter:
            self._plan_scope()
        self._plan_assignment()
        self.others = [record for record in self._app_assignments() if not self._is_ours(record)
                       and str(record.get("Role", "")).lower() == wanted.role.lower()]
        if self.others:
            self.warnings.append("app %s also holds %s through %s; role grants add up, so the app reaches the mailboxes of "
                                 "every one of them." % (wanted.app_id, wanted.role, ", ".join(
                                     "%s (%s)" % (item["name"], item["scope"]) for item in map(summarize_assignment, self.others))))

    def _plan_scope(self):
        wanted = self.wanted
        if self.scope is None:
            self.steps.append(Step("New-ManagementScope", {"Name": wanted.scope_name,
                                                           "RecipientRestrictionFilter": wanted.recipient_filter},
                                   "create management scope %s" % wanted.scope_name))
            return
        if normalize_filter(self.scope.get("RecipientFilter")) == wanted.recipient_filter:
            return
        users = self._scope_users()
        if users:
            raise RbacError("management scope %r has the filter %r and is used by %s; changing it would change what they "
                            "reach. Nothing was changed. Fix: choose another scope_name."
                            % (wanted.scope_name, self.scope.get("RecipientFilter"), ", ".join(users)))
        self.steps.append(Step("Set-ManagementScope", {"Identity": wanted.scope_name,
                                                       "RecipientRestrictionFilter": wanted.recipient_filter},
                               "change the filter of management scope %s" % wanted.scope_name))

    def _new_assignment(self):
        wanted = self.wanted
        parameters = {"Name": wanted.assignment_name, "Role": wanted.role, "App": APP}
        if wanted.recipient_filter:
            parameters["CustomResourceScope"] = wanted.scope_name
        elif wanted.admin_unit:
            parameters["RecipientAdministrativeUnitScope"] = wanted.admin_unit
        return Step("New-ManagementRoleAssignment", parameters,
                    "assign %s to app %s for %s" % (wanted.role, wanted.app_id, wanted.describe_scope()))

    def _plan_assignment(self):
        wanted = self.wanted
        if self.assignment is not None:
            same_role = str(self.assignment.get("Role", "")).lower() == wanted.role.lower()
            if same_role and assignment_scope(self.assignment) == wanted.scope_key:
                return
            self.steps.append(Step("Remove-ManagementRoleAssignment", {"Identity": wanted.assignment_name, "Confirm": False},
                                   "replace role assignment %s (it was for %s)" % (
                                       wanted.assignment_name, summarize_assignment(self.assignment)["scope"])))
        self.steps.append(self._new_assignment())

    # -- absent --------------------------------------------------------------------------

    def _plan_absent(self):
        wanted = self.wanted
        if self.assignment is not None:
            self.steps.append(Step("Remove-ManagementRoleAssignment", {"Identity": wanted.assignment_name, "Confirm": False},
                                   "remove role assignment %s" % wanted.assignment_name))
        if self.scope is not None:
            users = self._scope_users()
            if users:
                self.warnings.append("management scope %s was left in place: %s still use it." % (wanted.scope_name,
                                                                                                  ", ".join(users)))
            else:
                self.steps.append(Step("Remove-ManagementScope", {"Identity": wanted.scope_name, "Confirm": False},
                                       "remove management scope %s" % wanted.scope_name))
        if self.pointer is not None:
            self._plan_pointer_removal()

    def _plan_pointer_removal(self):
        wanted = self.wanted
        remaining = [record for record in self._app_assignments() if not self._is_ours(record)]
        if remaining:
            self.warnings.append("the service principal of app %s was left in place: it still holds %s."
                                 % (wanted.app_id, ", ".join(str(record.get("Name")) for record in remaining)))
        elif str(self.pointer.get("DisplayName")) != wanted.display_name:
            self.warnings.append("the service principal of app %s was left in place: its display name %r is not %r, so "
                                 "this module did not create it." % (wanted.app_id, self.pointer.get("DisplayName"),
                                                                     wanted.display_name))
        else:
            self.steps.append(Step("Remove-ServicePrincipal", {"Identity": app_parameter(self.pointer), "Confirm": False},
                                   "remove the service principal pointer of app %s" % wanted.app_id))

    # -- helpers ---------------------------------------------------------------------------

    def _app_assignments(self):
        """Every role assignment of the app's pointer (none when there is no pointer)."""
        if self.pointer is None:
            return []
        return [record for record in self.read.assignments() if assigned_to(record, self.pointer)]

    def _is_ours(self, record):
        """True for the assignment this module owns (compared by name: each read decodes new objects)."""
        return self.assignment is not None and str(record.get("Name")).lower() == self.wanted.assignment_name.lower()

    def _scope_users(self):
        """Names of the role assignments other than ours that use the scope."""
        name = self.wanted.scope_name.lower()
        return [str(record.get("Name")) for record in self.read.assignments()
                if str(record.get("CustomResourceScope") or "").lower() == name and not self._is_ours(record)]


def apply_steps(client, plan, done):
    """Run the plan's writes in order; ``done`` (a list) gets each step's description as it succeeds."""
    pointer = plan.pointer
    for step in plan.steps:
        parameters = {key: (app_parameter(pointer) if value is APP else value) for key, value in step.parameters.items()}
        answer = client.invoke(step.cmdlet, parameters)
        if step.cmdlet == "New-ServicePrincipal":
            pointer = answer.value[0] if answer.value else RbacReader(client).pointer(plan.wanted.app_id)
            if pointer is None:
                raise RbacError("New-ServicePrincipal succeeded but the pointer of app %s cannot be read back."
                                % plan.wanted.app_id)
        done.append(step.what)
    return pointer


def verify(client, pointer, role, in_scope=(), out_of_scope=()):
    """Test-ServicePrincipalAuthorization for sample mailboxes; returns the rows and raises on a disagreement."""
    rows, wrong = [], []
    for mailbox, expected in [(name, True) for name in in_scope] + [(name, False) for name in out_of_scope]:
        answer = client.invoke("Test-ServicePrincipalAuthorization", {"Identity": app_parameter(pointer), "Resource": mailbox})
        matching = [row for row in answer.value if str(row.get("RoleName", "")).lower() == role.lower()]
        actual = any(_is_true(row.get("InScope")) for row in matching)
        rows.append({"mailbox": mailbox, "expected_in_scope": expected, "in_scope": actual, "ok": actual == expected})
        if actual != expected:
            wrong.append("%s is %sin scope" % (mailbox, "" if actual else "not "))
    if wrong:
        raise VerificationFailed("Test-ServicePrincipalAuthorization for %s: %s" % (role, "; ".join(wrong)))
    return rows
