# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBAC for Applications: give an Entra app scoped Exchange application roles.

The steps Microsoft documents (learn.microsoft.com/exchange/permissions-exo/application-rbac):
a service principal pointer (``New-ServicePrincipal -AppId -ObjectId``), optionally a management
scope (``New-ManagementScope -RecipientRestrictionFilter``) or an administrative unit, then
``New-ManagementRoleAssignment -App -Role [-CustomResourceScope | -RecipientAdministrativeUnitScope]``
per role, checked with ``Test-ServicePrincipalAuthorization``.

Which identity ``-App`` takes is documented two ways (office-docs-powershell: "the ObjectId GUID
value from the output of the Get-ServicePrincipal cmdlet"; Microsoft365DSC: "the ServiceId GUID
value"). So the pointer is looked up and the GUID Exchange returns is passed: its ``ServiceId``
when it has one, else its ``ObjectId``, else its ``Identity``.

Tenants are shared, so every decision is taken on complete listings (``ExoClient.invoke``
follows every page) and the module changes or removes only what is its own:
- an assignment is ours when Exchange lists it for the app's pointer (``-RoleAssignee`` with the
  pointer's GUID: an assignment's RoleAssignee may show a display name, and every MSE pointer is
  called "Mimecast Synchronization Engine") and its name is ``assignment_name`` (default ``<role without
  "Application ">-<app id>``) or its twin ``<name>-b``. The twin lets a moved assignment be
  created before the old one is removed (names are unique and an assignment's resource scope
  cannot be changed in place: Set-ManagementRoleAssignment has no -CustomResourceScope).
- the management scope ``scope_name`` (default ``MSE-<app id>``) is changed or removed only
  while nothing else references it: no app assignment (CustomResourceScope), no admin role
  assignment (CustomRecipientWriteScope, ExclusiveRecipientWriteScope). Changing a scope
  changes it for everyone who uses it.
- the pointer is removed with state=absent only when it is the app's, has no assignment left
  and carries ``display_name``.

Every write is settled as ``exo_writes`` describes: an ambiguous answer is read back.
"""

from __future__ import annotations

import re

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import canonical_guid
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import settled_write

DEFAULT_ROLE = "Application EWS.AccessAsApp"
ROLE_PREFIX = "Application "
DEFAULT_DISPLAY_NAME = "Mimecast Synchronization Engine"
MAX_NAME = 64
# The second name of an assignment of ours, used while the first still exists (make before break).
TWIN_SUFFIX = "-b"
APP = object()  # placeholder for the -App value, known once the pointer exists
# Where a role assignment names a management scope: app assignments (RBAC for Applications) and
# admin role assignments (regular and exclusive write scopes); Microsoft365DSC
# EXOManagementRoleAssignment reads the same fields.
SCOPE_REFERENCES = ("CustomResourceScope", "CustomRecipientWriteScope", "ExclusiveRecipientWriteScope")
POINTER_GUID_KEYS = ("Identity", "Name", "Id", "ObjectId", "ServiceId", "AppId")


class RbacError(ConfigurationError):
    """The options cannot be applied as they are; the message says what to change."""


class VerificationFailed(ConfigurationError):
    """Test-ServicePrincipalAuthorization disagrees with what was asked: the scope or the samples need a fix."""


def _is_true(value):
    return value is True or str(value).strip().lower() == "true"


def _lower(value):
    return str(value or "").strip().lower()


def normalize_filter(text):
    """A recipient filter as the module writes it: outer braces dropped, whitespace collapsed."""
    text = str(text or "").strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return re.sub(r"\s+", " ", text).strip()


def _wrapped(text):
    """True when one pair of parentheses encloses the whole text."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth, quote = 0, None
    for position, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and position < len(text) - 1:
                return False
    return True


def same_filter(stored, wanted):
    """True when a stored filter is the one asked for.

    Exchange stores some recipient filters with every statement wrapped in parentheses (documented
    for address lists and dynamic groups; for management scopes the evidence is silent), and OPATH
    comparisons are case-insensitive: so outer parentheses and case do not count.
    """
    def key(text):
        text = normalize_filter(text)
        while _wrapped(text):
            text = text[1:-1].strip()
        return text.lower()
    return key(stored) == key(wanted)


def check_roles(values):
    """The application roles asked for, stripped and without duplicates; fails on anything else."""
    roles = []
    for value in values or []:
        role = str(value).strip()
        if not role.lower().startswith(ROLE_PREFIX.lower()):
            raise RbacError("role %r is not an application role of RBAC for Applications (their names start with "
                            "'Application ', e.g. 'Application EWS.AccessAsApp')." % value)
        if role.lower() not in (known.lower() for known in roles):
            roles.append(role)
    if not roles:
        raise RbacError("roles is empty. Fix: list at least one application role, e.g. 'Application EWS.AccessAsApp'.")
    return roles


class Wanted:
    """What the options ask for, checked."""

    def __init__(self, params):
        self.state = params["state"]
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
        self.roles = check_roles(params["roles"])
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
        if params["scope_name"] and not self.recipient_filter and self.state == "present":
            raise RbacError("scope_name names the management scope of recipient_filter. Fix: give recipient_filter, or "
                            "drop scope_name.")
        if params["assignment_name"] and len(self.roles) > 1:
            raise RbacError("assignment_name names one assignment, but %d roles are asked for. Fix: drop assignment_name "
                            "(each role's assignment is then named after the role and the app ID)." % len(self.roles))
        self.scope_name = (params["scope_name"] or "MSE-%s" % self.app_id).strip()
        self._names = {}
        for role in self.roles:
            base = (params["assignment_name"] or "%s-%s" % (role[len(ROLE_PREFIX):], self.app_id)).strip()
            self._names[role.lower()] = (base, base + TWIN_SUFFIX)
        lengths = [("assignment_name", name) for name, _twin in self._names.values()] + [("scope_name", self.scope_name)]
        for option, value in lengths:
            if "*" in value:
                raise RbacError("%s %r contains '*', which Exchange reads as a wildcard. Fix: choose a plain name."
                                % (option, value))
        for option, value in lengths:
            limit = MAX_NAME - (len(TWIN_SUFFIX) if option == "assignment_name" else 0)
            if not value or len(value) > limit:
                raise RbacError("%s must be 1 to %d characters long, not %d (Exchange allows %d%s)."
                                % (option, limit, len(value), MAX_NAME,
                                   ", and a moved assignment takes the name plus %r" % TWIN_SUFFIX
                                   if option == "assignment_name" else ""))

    def names(self, role):
        """The two names an assignment of ours for ``role`` may have."""
        return self._names[role.lower()]

    def all_names(self):
        """Every name an assignment of ours may have, lower-case."""
        return {name.lower() for pair in self._names.values() for name in pair}

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


def pointer_guids(pointer):
    """Every GUID that names a pointer (RoleAssignee shows one of them)."""
    return {canonical_guid(pointer.get(key)) for key in POINTER_GUID_KEYS} - {None}


def app_parameter(pointer):
    """The -App value: the GUID Exchange returned for the pointer (ServiceId, else ObjectId, else Identity)."""
    for key in ("ServiceId", "ObjectId", "Identity"):
        if pointer.get(key):
            return str(pointer[key])
    raise RbacError("Get-ServicePrincipal returned a service principal without ServiceId, ObjectId or Identity: %r" % pointer)


def assignment_scope(record):
    """(kind, value) of a role assignment's resource scope."""
    if record.get("CustomResourceScope"):
        return ("scope", _lower(record["CustomResourceScope"]))
    unit = record.get("RecipientAdministrativeUnitScope") or (
        record.get("CustomRecipientWriteScope") if str(record.get("RecipientWriteScope")) == "AdministrativeUnit" else None)
    if unit:
        return ("admin_unit", canonical_guid(unit) or _lower(unit))
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


def _is_app_record(record):
    """True for an assignment to a service principal (RoleAssigneeType absent counts, as older answers omit it)."""
    return str(record.get("RoleAssigneeType") or "ServicePrincipal") == "ServicePrincipal"


def scope_users(records, scope, exclude=()):
    """Who references a management scope: 'name (field)' for every assignment but those named in ``exclude``."""
    names = {_lower(scope.get(key)) for key in ("Name", "Identity", "Guid")} - {""}
    users = []
    for record in records:
        if _lower(record.get("Name")) in exclude:
            continue
        fields = [field for field in SCOPE_REFERENCES if _lower(record.get(field)) in names]
        if fields:
            users.append("%s (%s, %s)" % (record.get("Name"), record.get("RoleAssignee") or record.get("RoleAssigneeName"),
                                          fields[0]))
    return users


class Step:
    """One write: a cmdlet, its parameters (APP stands for the pointer's -App value), what it does, and how to read it back."""

    def __init__(self, cmdlet, parameters, what, in_effect):
        self.cmdlet = cmdlet
        self.parameters = parameters
        self.what = what
        self.in_effect = in_effect  # reader -> bool: is the write's effect there?


class RbacReader:
    """The reads a plan needs, each answering None for 'not found'; every listing complete."""

    def __init__(self, client):
        self.client = client

    def one(self, cmdlet, identity, by_name=True):
        """The record Get-X -Identity names, or None when Exchange says it does not exist.

        With ``by_name`` (RBAC objects, looked up by their name) only a record whose Name or
        Identity is ``identity`` counts: -Identity also takes wildcards, and a look-up must never
        answer with some other object. A mailbox is found by any of its addresses instead.
        """
        try:
            records = self.client.invoke(cmdlet, {"Identity": identity}).value
        except ExoError as exc:
            if exc.kind != "not_found":
                raise
            return None
        wanted = _lower(identity)
        return next((record for record in records if isinstance(record, dict) and (
            not by_name or wanted in (_lower(record.get("Name")), _lower(record.get("Identity"))))), None)

    def pointer(self, app_id):
        """The app's pointer, or None.

        ``Get-ServicePrincipal -Identity <app id>`` answers the one pointer, or every pointer when
        none matches (documented); either way the complete answer is matched by AppId.
        """
        for record in self.client.invoke("Get-ServicePrincipal", {"Identity": app_id}).value:
            if isinstance(record, dict) and canonical_guid(record.get("AppId")) == app_id:
                return record
        return None

    def assignments(self, pointer=None):
        """Every role assignment of the tenant, or of one pointer.

        A pointer's assignments are asked for with -RoleAssignee and the pointer's GUID, so Exchange
        itself says which are the app's: an assignment's RoleAssignee may show a display name, and
        every MSE pointer gets the same one.
        """
        if pointer is None:
            return [record for record in self.client.invoke("Get-ManagementRoleAssignment", {}).value
                    if isinstance(record, dict)]
        records = [record for record in self.client.invoke("Get-ManagementRoleAssignment",
                                                           {"RoleAssignee": app_parameter(pointer)}).value
                   if isinstance(record, dict)]
        # Validate before believing: keep what names this pointer. When the answer also held records
        # of others (the filter was not applied as documented), a shared display name proves nothing.
        guids = pointer_guids(pointer)
        by_guid = [record for record in records if _is_app_record(record) and canonical_guid(record.get("RoleAssignee")) in guids]
        if len(by_guid) == len(records):
            return records
        named = [record for record in records if _is_app_record(record)
                 and _lower(record.get("RoleAssignee")) == _lower(pointer.get("DisplayName"))]
        if len(by_guid) + len(named) == len(records):
            return records
        return by_guid

    def application_roles(self):
        """Names of the application roles, for an error message."""
        return sorted(str(record.get("Name")) for record in self.client.invoke("Get-ManagementRole", {}).value
                      if str(record.get("Name", "")).startswith(ROLE_PREFIX))

    def filter_error(self, recipient_filter):
        """Why Exchange refuses a recipient filter, or None when it accepts it (a read: nothing is created)."""
        try:
            self.client.invoke("Get-Recipient", {"RecipientPreviewFilter": recipient_filter, "ResultSize": 1})
        except ExoError as exc:
            if "parameter cannot be found" in exc.message.lower():
                # The parameter itself was refused, not the filter: no pre-check is possible, and the
                # scope, written before the pointer, is then the first thing to check the filter.
                return None
            if exc.kind in ("bad_request", "cmdlet_error", "other"):
                return exc.message
            raise
        return None


class RbacPlan:
    """Reads the tenant, checks every conflict, and lists the writes (nothing is written here)."""

    def __init__(self, client, wanted):
        self.read = RbacReader(client)
        self.wanted = wanted
        self.steps = []
        self.removals = []
        self.warnings = []
        self.pointer = None
        self.scope = None
        self.records = []
        self.app_records = []
        self.ours = {}
        self.kept = {}
        self.others = []

    def build(self, verify_mailboxes=()):
        """Fill ``steps``; raises RbacError before any write when the options conflict with the tenant."""
        wanted = self.wanted
        self.pointer = self.read.pointer(wanted.app_id)
        self.records = self.read.assignments()
        self.app_records = self.read.assignments(self.pointer) if self.pointer is not None else []
        app_names = {_lower(record.get("Name")) for record in self.app_records}
        ours_by_name = {}
        for record in self.records:
            name = _lower(record.get("Name"))
            if name not in wanted.all_names():
                continue
            if name not in app_names:
                raise RbacError("a role assignment named %r exists for %s, not for app %s, so it is not this module's. "
                                "Nothing was changed. Fix: choose another assignment_name."
                                % (record.get("Name"), record.get("RoleAssignee"), wanted.app_id))
            ours_by_name[name] = record
        self.ours = {role.lower(): [ours_by_name[name.lower()] for name in wanted.names(role) if name.lower() in ours_by_name]
                     for role in wanted.roles}
        if wanted.recipient_filter or wanted.state == "absent":
            self.scope = self.read.one("Get-ManagementScope", wanted.scope_name)
        if wanted.state == "present":
            self._plan_present(verify_mailboxes)
        else:
            self._plan_absent()
        self.steps.extend(self.removals)
        return self

    @property
    def our_records(self):
        """Every assignment of ours, any role asked for."""
        return [record for records in self.ours.values() for record in records]

    # -- present -------------------------------------------------------------------------

    def _plan_present(self, verify_mailboxes):
        wanted = self.wanted
        for role in wanted.roles:
            if self.read.one("Get-ManagementRole", role) is None:
                raise RbacError("Exchange Online has no role %r. Nothing was changed. Application roles: %s."
                                % (role, ", ".join(self.read.application_roles())))
        for mailbox in verify_mailboxes:
            if self.read.one("Get-Mailbox", mailbox, by_name=False) is None:
                raise RbacError("the mailbox %s to verify with does not exist in Exchange Online. Nothing was changed."
                                % mailbox)
        if wanted.recipient_filter:
            self._plan_scope()
        if self.pointer is None:
            self._plan_pointer()
        for role in wanted.roles:
            self._plan_role(role)
        ours = {id(record) for record in self.our_records}
        self.others = [record for record in self._app_assignments() if id(record) not in ours
                       and _lower(record.get("Role")) in (role.lower() for role in wanted.roles)]
        if self.others:
            self.warnings.append("app %s also holds %s through %s, which this module does not own; role grants add up, so "
                                 "the app reaches the mailboxes of every one of them." % (
                                     wanted.app_id, ", ".join(wanted.roles), ", ".join(
                                         "%s (%s)" % (item["name"], item["scope"])
                                         for item in map(summarize_assignment, self.others))))

    def _plan_pointer(self):
        wanted = self.wanted
        if not wanted.object_id:
            raise RbacError("app %s has no service principal in Exchange Online yet, and creating one needs the Object "
                            "ID of its Entra service principal. Nothing was changed. Fix: set "
                            "service_principal_object_id (Entra ID, Enterprise applications, the app, Object ID)."
                            % wanted.app_id)
        self.steps.append(Step("New-ServicePrincipal", {"AppId": wanted.app_id, "ObjectId": wanted.object_id,
                                                        "DisplayName": wanted.display_name},
                               "create the service principal pointer for app %s" % wanted.app_id,
                               lambda read: read.pointer(wanted.app_id) is not None))

    def _plan_scope(self):
        wanted = self.wanted
        name, wanted_filter = wanted.scope_name, wanted.recipient_filter

        def in_effect(read):
            scope = read.one("Get-ManagementScope", name)
            return scope is not None and same_filter(scope.get("RecipientFilter"), wanted_filter)

        if self.scope is not None:
            if _is_true(self.scope.get("Exclusive")):
                raise RbacError("management scope %r is an exclusive scope: it locks its recipients away from every other "
                                "admin, and exclusive scopes do not restrict apps. Nothing was changed. Fix: choose "
                                "another scope_name (a scope of this app's own)." % name)
            if same_filter(self.scope.get("RecipientFilter"), wanted_filter):
                return
            users = scope_users(self.records, self.scope, wanted.all_names())
            if users:
                raise RbacError("management scope %r has the filter %r and is used by %s; changing it would change what "
                                "they reach. Nothing was changed. Fix: choose another scope_name (a scope of this app's own)."
                                % (name, self.scope.get("RecipientFilter"), ", ".join(users)))
        problem = self.read.filter_error(wanted_filter)
        if problem:
            raise RbacError("Exchange Online does not accept recipient_filter %r: %s. Nothing was changed. Fix: correct the "
                            "OPATH filter (filterable properties: see 'Filterable properties for the "
                            "RecipientFilter parameter')." % (wanted_filter, problem))
        if self.scope is None:
            self.steps.append(Step("New-ManagementScope", {"Name": name, "RecipientRestrictionFilter": wanted_filter},
                                   "create management scope %s" % name, in_effect))
        else:
            self.steps.append(Step("Set-ManagementScope", {"Identity": name, "RecipientRestrictionFilter": wanted_filter},
                                   "change the filter of management scope %s" % name, in_effect))

    def _plan_role(self, role):
        """Keep our assignment of ``role`` when it has the scope asked for; else make the new one, then remove the old."""
        wanted = self.wanted
        ours = self.ours[role.lower()]
        kept = [record for record in ours if _lower(record.get("Role")) == role.lower()
                and assignment_scope(record) == wanted.scope_key]
        if kept:
            self.kept[role.lower()] = kept[0]
            stale = [record for record in ours if record is not kept[0]]
        else:
            taken = {_lower(record.get("Name")) for record in self.records}
            free = [name for name in wanted.names(role) if name.lower() not in taken]
            if not free and len(ours) == 2:
                # Both names are ours and neither has the scope asked for (a move that stopped half-way):
                # one goes first, and the other keeps the app's access until the new one exists.
                self.steps.append(self._remove_assignment(ours[1], "remove role assignment %s (it was for %s) to make "
                                                          "room" % (ours[1].get("Name"),
                                                                    summarize_assignment(ours[1])["scope"])))
                free, ours = [str(ours[1].get("Name"))], ours[:1]
            if not free:
                raise RbacError("both names of this app's %s assignment (%s) are taken. Nothing was changed. Fix: remove "
                                "one of them, or choose another assignment_name." % (role, ", ".join(wanted.names(role))))
            if wanted.scope_key[0] == "organization" and any(assignment_scope(record)[0] != "organization" for record in ours):
                self.warnings.append("%s of app %s is widened from %s to the whole organisation, as asked (no "
                                     "recipient_filter or admin_unit)." % (role, wanted.app_id, ", ".join(
                                         str(summarize_assignment(record)["scope"]) for record in ours)))
            self.steps.append(self._new_assignment(role, free[0]))
            stale = ours
        for record in stale:
            self.removals.append(self._remove_assignment(record, "replace role assignment %s (it was for %s)" % (
                record.get("Name"), summarize_assignment(record)["scope"])))

    def _new_assignment(self, role, name):
        wanted = self.wanted
        parameters = {"Name": name, "Role": role, "App": APP}
        if wanted.recipient_filter:
            parameters["CustomResourceScope"] = wanted.scope_name
        elif wanted.admin_unit:
            parameters["RecipientAdministrativeUnitScope"] = wanted.admin_unit

        def in_effect(read):
            record = read.one("Get-ManagementRoleAssignment", name)
            return record is not None and _lower(record.get("Role")) == role.lower() \
                and assignment_scope(record) == wanted.scope_key
        return Step("New-ManagementRoleAssignment", parameters, "assign %s to app %s for %s as %s"
                    % (role, wanted.app_id, wanted.describe_scope(), name), in_effect)

    @staticmethod
    def _remove_assignment(record, what):
        name = str(record.get("Name"))
        return Step("Remove-ManagementRoleAssignment", {"Identity": name, "Confirm": False}, what,
                    lambda read: read.one("Get-ManagementRoleAssignment", name) is None)

    # -- absent --------------------------------------------------------------------------

    def _plan_absent(self):
        wanted = self.wanted
        for record in self.our_records:
            self.removals.append(self._remove_assignment(record, "remove role assignment %s" % record.get("Name")))
        if self.scope is not None:
            users = scope_users(self.records, self.scope, wanted.all_names())
            if _is_true(self.scope.get("Exclusive")):
                self.warnings.append("management scope %s was left in place: it is an exclusive scope, which this module "
                                     "never creates." % wanted.scope_name)
            elif users:
                self.warnings.append("management scope %s was left in place: %s still use it."
                                     % (wanted.scope_name, ", ".join(users)))
            else:
                name = wanted.scope_name
                self.removals.append(Step("Remove-ManagementScope", {"Identity": name, "Confirm": False},
                                          "remove management scope %s" % name,
                                          lambda read: read.one("Get-ManagementScope", name) is None))
        if self.pointer is not None:
            self._plan_pointer_removal()

    def _plan_pointer_removal(self):
        wanted = self.wanted
        ours = {id(record) for record in self.our_records}
        remaining = [record for record in self._app_assignments() if id(record) not in ours]
        if remaining:
            self.warnings.append("the service principal of app %s was left in place: it still holds %s."
                                 % (wanted.app_id, ", ".join(str(record.get("Name")) for record in remaining)))
        elif str(self.pointer.get("DisplayName")) != wanted.display_name:
            self.warnings.append("the service principal of app %s was left in place: its display name %r is not %r, so "
                                 "this module did not create it." % (wanted.app_id, self.pointer.get("DisplayName"),
                                                                     wanted.display_name))
        else:
            self.removals.append(Step("Remove-ServicePrincipal", {"Identity": app_parameter(self.pointer), "Confirm": False},
                                      "remove the service principal pointer of app %s" % wanted.app_id,
                                      lambda read: read.pointer(wanted.app_id) is None))

    # -- helpers ---------------------------------------------------------------------------

    def _app_assignments(self):
        """Every role assignment of the app's pointer (none when there is no pointer), as the full listing has them."""
        names = {_lower(record.get("Name")) for record in self.app_records}
        return [record for record in self.records if _lower(record.get("Name")) in names]


def apply_steps(client, plan, progress):
    """Run the plan's writes in order, each settled (see exo_writes); returns the app's pointer afterwards."""
    pointer, read = plan.pointer, RbacReader(client)
    for step in plan.steps:
        parameters = {key: (app_parameter(pointer) if value is APP else value) for key, value in step.parameters.items()}
        answer = settled_write(client, step.cmdlet, parameters, lambda step=step: step.in_effect(read), step.what, progress)
        if step.cmdlet == "New-ServicePrincipal":
            made = answer.value[0] if answer is not None and answer.value else None
            pointer = made if isinstance(made, dict) and canonical_guid(made.get("AppId")) == plan.wanted.app_id \
                else read.pointer(plan.wanted.app_id)
            if pointer is None:
                raise RbacError("New-ServicePrincipal succeeded but the pointer of app %s cannot be read back."
                                % plan.wanted.app_id)
    return pointer


def verify(client, pointer, roles, in_scope=(), out_of_scope=()):
    """Test-ServicePrincipalAuthorization for sample mailboxes and each role; returns the rows, raises on a disagreement."""
    rows, wrong = [], []
    for mailbox, expected in [(name, True) for name in in_scope] + [(name, False) for name in out_of_scope]:
        answer = client.invoke("Test-ServicePrincipalAuthorization", {"Identity": app_parameter(pointer), "Resource": mailbox})
        for role in roles:
            matching = [row for row in answer.value if isinstance(row, dict) and _lower(row.get("RoleName")) == role.lower()]
            actual = any(_is_true(row.get("InScope")) for row in matching)
            rows.append({"mailbox": mailbox, "role": role, "expected_in_scope": expected, "in_scope": actual,
                         "ok": actual == expected})
            if actual != expected:
                wrong.append("%s is %sin scope of %s" % (mailbox, "" if actual else "not ", role))
    if wrong:
        raise VerificationFailed("Test-ServicePrincipalAuthorization: %s. (It reads the assignments directly; the app's "
                                 "live access follows within 30 minutes to 2 hours.)" % "; ".join(wrong))
    return rows
