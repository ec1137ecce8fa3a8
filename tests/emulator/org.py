"""Organisation-level cmdlets: the EWS access policy, per-mailbox EWS (CAS mailboxes), and RBAC
for Applications (service principal pointers, management scopes, role assignments,
Test-ServicePrincipalAuthorization).

Every behaviour and its public source (or "assumption") is listed in README.md, section
"Organisation, EWS policy and RBAC for Applications". The state lives in ``OrgState``,
one per tenant, kept in ``tenant.extensions`` so that a reset of the tenant re-seeds it.
"""
from __future__ import annotations

import hashlib
import uuid

from .cmdlets import DEFAULT_RESULT_SIZE, RESULT_SIZE_WARNING, RESULT_SIZE_WARNING_SET, CmdletError, _filter_error, binding, not_found
from .opath import FilterError, compile_filter

# Application roles of RBAC for Applications (learn.microsoft.com/exchange/permissions-exo/application-rbac).
APPLICATION_ROLES = (
    "Application Mail.Read", "Application Mail.ReadBasic", "Application Mail.ReadWrite", "Application Mail.Send",
    "Application MailboxSettings.Read", "Application MailboxSettings.ReadWrite", "Application Calendars.Read",
    "Application Calendars.ReadWrite", "Application Contacts.Read", "Application Contacts.ReadWrite",
    "Application Mail Full Access", "Application Exchange Full Access", "Application EWS.AccessAsApp",
    # Also in the same roles table (Evidence update of modern-access.md; public copies of the page).
    "Application MailboxFolder.Read", "Application MailboxFolder.ReadWrite", "Application MailboxItem.Read",
    "Application MailboxItem.ReadWrite", "Application MailboxItem.Export", "Application MailboxItem.ImportExport",
    "Application SMTP.SendAsApp", "Application MailboxConfigItem.Read", "Application MailboxConfigItem.ReadWrite",
)
OTHER_ROLES = ("Mail Recipients", "Role Management", "View-Only Configuration", "Organization Configuration")
APP_IDENTITY_MODES = ("ObjectId", "ServiceId")
MAX_ASSIGNMENT_NAME = 64
# Entra service principals the emulated directory knows: key -> display name.
# "mse2" is a second MSE app with the same display name (two MSE installations in one tenant).
ENTRA_APPS = {"mse": "Mimecast Synchronization Engine", "backup": "Contoso Backup", "crm": "Contoso CRM Connector",
              "mse2": "Mimecast Synchronization Engine"}
EWS_LIST_SHAPES = ("string", "array_joined", "array")
ROLE_ASSIGNEE_SHAPES = ("identity", "display_name")
DEFAULT_RBAC_PAGE_SIZE = 1000
ORG_KEYS = ("app_identity", "ews_enabled", "ews_allowed_app_ids", "mailbox_ews", "rbac_page_size", "add_entra_apps",
            "add_pointers", "add_scopes", "add_assignments", "role_assignee_shape", "ews_list_shape", "concurrent_writes")

S, B, R = "str", "bool", "raw"
COMMON = {"confirm": ("Confirm", B), "force": ("Force", B)}
SPECS = {
    "Get-OrganizationConfig": {"retrieveewsoperationaccesspolicy": ("RetrieveEwsOperationAccessPolicy", B)},
    "Set-OrganizationConfig": dict(COMMON, ewsenabled=("EwsEnabled", R), ewsallowedappids=("EwsAllowedAppIDs", R)),
    "Get-CASMailbox": {"identity": ("Identity", S), "resultsize": ("ResultSize", "resultsize"), "filter": ("Filter", S),
                       "recipienttypedetails": ("RecipientTypeDetails", "rtds"), "anr": ("Anr", S)},
    "Set-CASMailbox": dict(COMMON, identity=("Identity", S), ewsenabled=("EwsEnabled", R)),
    "Get-ServicePrincipal": {"identity": ("Identity", R)},
    "New-ServicePrincipal": dict(COMMON, appid=("AppId", S), objectid=("ObjectId", S), serviceid=("ServiceId", S),
                                 displayname=("DisplayName", S)),
    "Remove-ServicePrincipal": dict(COMMON, identity=("Identity", S)),
    "Get-ManagementScope": {"identity": ("Identity", S), "exclusive": ("Exclusive", B), "orphan": ("Orphan", B)},
    "New-ManagementScope": dict(COMMON, name=("Name", S), recipientrestrictionfilter=("RecipientRestrictionFilter", S),
                                exclusive=("Exclusive", B)),
    "Set-ManagementScope": dict(COMMON, identity=("Identity", S), recipientrestrictionfilter=("RecipientRestrictionFilter", S)),
    "Remove-ManagementScope": dict(COMMON, identity=("Identity", S)),
    "Get-ManagementRole": {"identity": ("Identity", S)},
    "Get-ManagementRoleAssignment": {"identity": ("Identity", S), "role": ("Role", S), "roleassignee": ("RoleAssignee", S),
                                     "enabled": ("Enabled", B)},
    "New-ManagementRoleAssignment": dict(COMMON, name=("Name", S), role=("Role", S), app=("App", S),
                                         customresourcescope=("CustomResourceScope", S),
                                         recipientadministrativeunitscope=("RecipientAdministrativeUnitScope", S)),
    "Remove-ManagementRoleAssignment": dict(COMMON, identity=("Identity", S)),
    "Test-ServicePrincipalAuthorization": {"identity": ("Identity", S), "resource": ("Resource", S)},
}
MANDATORY = {
    "Set-CASMailbox": ("Identity",), "New-ServicePrincipal": ("AppId",), "Remove-ServicePrincipal": ("Identity",),
    "New-ManagementScope": ("Name", "RecipientRestrictionFilter"), "Set-ManagementScope": ("Identity",),
    "Remove-ManagementScope": ("Identity",), "New-ManagementRoleAssignment": ("Role", "App"),
    "Remove-ManagementRoleAssignment": ("Identity",), "Test-ServicePrincipalAuthorization": ("Identity",),
}
PAGED = ("Get-CASMailbox", "Get-ServicePrincipal", "Get-ManagementRoleAssignment", "Get-ManagementScope",
         "Get-ManagementRole")
# Calls of Get-OrganizationConfig count for concurrent_writes only with this switch.
RETRIEVE_SWITCH = "RetrieveEwsOperationAccessPolicy"


def _hash01(*parts):
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def _guid(tenant, *parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator-org-%s-%d-%s" % (tenant.domain, tenant.seed, "-".join(parts))))


def _is_guid(text):
    try:
        uuid.UUID(str(text).strip())
    except ValueError:
        return False
    return len(str(text).strip()) == 36


def _task_error(text, exception="Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", code="Ex5E1A0C"):
    return CmdletError(400, "BadRequest", code, exception, text)


def _already_exists(kind, name):
    return _task_error("The %s \"%s\" already exists. Specify a different name." % (kind, name),
                       "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAlreadyExistsException", "Ex8A2C17")


def _nullable_bool(name, value):
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "$true", "1"):
        return True
    if text in ("false", "$false", "0"):
        return False
    if text in ("$null", "null", ""):
        return None
    raise binding("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type "
                  "\"System.Nullable`1[System.Boolean]\"." % (name, value))


class EntraSp:
    """A service principal in the emulated Entra ID directory."""

    def __init__(self, key, app_id, object_id, display_name):
        self.key = key
        self.app_id = app_id
        self.object_id = object_id
        self.display_name = display_name

    def as_dict(self):
        """For the control API."""
        return {"key": self.key, "app_id": self.app_id, "object_id": self.object_id, "display_name": self.display_name}


class Pointer:
    """An Exchange service principal: a pointer to an Entra service principal (New-ServicePrincipal)."""

    def __init__(self, app_id, object_id, service_id, display_name):
        self.app_id = app_id
        self.object_id = object_id
        self.service_id = service_id
        self.display_name = display_name or object_id

    def identity(self, mode):
        """The GUID Exchange shows as Identity (and accepts as -App) in the configured mode."""
        return self.object_id if mode == "ObjectId" else self.service_id

    def names(self):
        """Every value Get-ServicePrincipal -Identity or Test-ServicePrincipalAuthorization -Identity accepts."""
        return {value.lower() for value in (self.app_id, self.object_id, self.service_id, self.display_name) if value}

    def record(self, mode):
        """The Get-ServicePrincipal object: ObjectId or ServiceId, depending on the mode."""
        identity = self.identity(mode)
        record = {"Identity": identity, "Name": identity, "DisplayName": self.display_name, "AppId": self.app_id,
                  "Id": identity, "IsValid": True, "ObjectState": "Unchanged"}
        record[mode] = identity
        return record


class Scope:
    """A management scope with a recipient restriction filter."""

    def __init__(self, name, recipient_filter, guid, exclusive=False):
        self.name = name
        self.filter = recipient_filter
        self.guid = guid
        self.exclusive = exclusive
        self.predicate = compile_filter(recipient_filter)

    def record(self):
        """The Get-ManagementScope object."""
        return {"Identity": self.name, "Name": self.name, "Guid": self.guid, "RecipientFilter": self.filter,
                "RecipientRoot": None, "ScopeRestrictionType": "RecipientScope", "Exclusive": self.exclusive,
                "IsValid": True, "ObjectState": "Unchanged"}


class AdminUnit:
    """An Entra administrative unit; membership by department (assumption)."""

    def __init__(self, guid, display_name, department):
        self.guid = guid
        self.display_name = display_name
        self.department = department

    def contains(self, recipient):
        """True when the recipient is a member."""
        return recipient.dept.lower() == self.department.lower()


class Assignment:
    """A management role assignment: of an application role to a pointer (resource scope: CustomResourceScope or an
    administrative unit), or of another role to a role group (write scope: CustomRecipientWriteScope,
    ExclusiveRecipientWriteScope or an administrative unit)."""

    def __init__(self, name, role, guid, pointer=None, scope=None, admin_unit=None, assignee=None, assignee_type=None,
                 write_scope=None, exclusive_write_scope=None):
        self.name = name
        self.role = role
        self.guid = guid
        self.pointer = pointer
        self.scope = scope
        self.admin_unit = admin_unit
        self.assignee = assignee
        self.assignee_type = assignee_type or "ServicePrincipal"
        self.write_scope = write_scope
        self.exclusive_write_scope = exclusive_write_scope

    def scopes_used(self):
        """Every management scope this assignment references (resource, write or exclusive write scope)."""
        return [scope for scope in (self.scope, self.write_scope, self.exclusive_write_scope) if scope is not None]

    def scope_type(self):
        """How Test-ServicePrincipalAuthorization names the kind of scope."""
        if self.scope is not None:
            return "CustomRecipientScope"
        if self.admin_unit is not None:
            return "AdministrativeUnit"
        return "Organization"

    def record(self, mode, assignee_shape="identity"):
        """The Get-ManagementRoleAssignment object (fields as Microsoft365DSC EXOManagementRoleAssignment reads them)."""
        if self.pointer is not None:
            assignee = self.pointer.display_name if assignee_shape == "display_name" else self.pointer.identity(mode)
        else:
            assignee = self.assignee
        if self.exclusive_write_scope is not None:  # stored in CustomRecipientWriteScope too (Exchange RoleHelper)
            write_scope, custom_write = "ExclusiveRecipientScope", self.exclusive_write_scope.name
        elif self.write_scope is not None:
            write_scope, custom_write = "CustomRecipientScope", self.write_scope.name
        elif self.scope is not None:
            write_scope, custom_write = "CustomRecipientScope", None
        elif self.admin_unit is not None:
            write_scope, custom_write = "AdministrativeUnit", self.admin_unit.guid
        else:
            write_scope, custom_write = "Organization", None
        return {"Identity": self.name, "Name": self.name, "Guid": self.guid, "Role": self.role,
                "RoleAssignee": assignee, "RoleAssigneeName": assignee, "RoleAssigneeType": self.assignee_type,
                "CustomResourceScope": self.scope.name if self.scope is not None else None,
                "RecipientWriteScope": write_scope,
                "CustomRecipientWriteScope": custom_write,
                "ExclusiveRecipientWriteScope": (self.exclusive_write_scope.name
                                                 if self.exclusive_write_scope is not None else None),
                "RecipientAdministrativeUnitScope": self.admin_unit.guid if self.admin_unit is not None else None,
                "Enabled": True, "Delegating": False, "IsValid": True, "ObjectState": "Unchanged"}

    def covers(self, recipient):
        """True when the recipient is in the assignment's resource scope."""
        if self.scope is not None:
            return bool(self.scope.predicate(recipient))
        if self.admin_unit is not None:
            return self.admin_unit.contains(recipient)
        return True


class OrgState:
    """The organisation's EWS settings and RBAC for Applications objects of one tenant."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.app_identity = "ObjectId"
        self.entra = {key: EntraSp(key, _guid(tenant, key, "app"), _guid(tenant, key, "object"), name)
                      for key, name in ENTRA_APPS.items()}
        backup = self.entra["backup"]
        # A December-2026 tenant that kept EWS: EwsEnabled True (tenants left at Null were flipped to False on
        # 1 Oct 2026) with the allow list Microsoft pre-populated in September 2026 (here: another app).
        self.ews_enabled = True
        self.ews_allowed = [backup.app_id]
        self.ews_list_shape = "array_joined"
        self.role_assignee_shape = "identity"
        self.rbac_page_size = DEFAULT_RBAC_PAGE_SIZE
        self.concurrent_writes = []  # pending rules: dicts with on, nth, seen and the ews_* changes
        self.concurrent_writes_fired = 0
        self.mailbox_ews = {}
        self.admin_units = {}
        sales = AdminUnit(_guid(tenant, "au", "sales"), "Sales Department", "Sales")
        self.admin_units[sales.guid] = sales
        self.pointers = []
        self.scopes = {}
        self.assignments = []
        self._seed_other_app(backup)

    def _seed_other_app(self, backup):
        """Another app's pointer, scope and assignments, which no module run of ours may touch."""
        pointer = Pointer(backup.app_id, backup.object_id, _guid(self.tenant, "backup", "service"), backup.display_name)
        self.pointers.append(pointer)
        scope = Scope("Backup mailboxes", "Department -eq 'Finance'", _guid(self.tenant, "scope", "backup"))
        self.scopes[scope.name.lower()] = scope
        self.assignments.append(Assignment("Contoso Backup EWS", "Application EWS.AccessAsApp",
                                           _guid(self.tenant, "assignment", "backup-ews"), pointer=pointer, scope=scope))
        self.assignments.append(Assignment("Contoso Backup Mail.Read", "Application Mail.Read",
                                           _guid(self.tenant, "assignment", "backup-read"), pointer=pointer))
        self.assignments.append(Assignment("Mail Recipients-Organization Management", "Mail Recipients",
                                           _guid(self.tenant, "assignment", "orgmgmt"), assignee="Organization Management",
                                           assignee_type="RoleGroup"))
        # An admin role assignment that uses a scope as its write scope: changing or removing that scope would
        # change what the Helpdesk may write.
        helpdesk = Scope("Helpdesk recipients", "Department -eq 'Support'", _guid(self.tenant, "scope", "helpdesk"))
        self.scopes[helpdesk.name.lower()] = helpdesk
        self.assignments.append(Assignment("Mail Recipients-Helpdesk", "Mail Recipients",
                                           _guid(self.tenant, "assignment", "helpdesk"), assignee="Helpdesk",
                                           assignee_type="RoleGroup", write_scope=helpdesk))

    # -- per-mailbox EWS --------------------------------------------------------------

    def mailbox_ews_enabled(self, mailbox):
        """The mailbox-level EwsEnabled: seeded False on ~4 %, not set ($null) on ~5 %, else True."""
        if mailbox.guid in self.mailbox_ews:
            return self.mailbox_ews[mailbox.guid]
        if not mailbox.seeded or mailbox.index == 0:
            return True
        roll = _hash01(self.tenant.seed, mailbox.index, "ews")
        if roll < 0.04:
            return False
        return None if roll < 0.09 else True

    # -- lookups ----------------------------------------------------------------------

    def pointer(self, identity):
        """The pointer an identity names (AppId, ObjectId, ServiceId or display name), or None."""
        wanted = str(identity or "").strip().lower()
        for pointer in self.pointers:
            if wanted in pointer.names():
                return pointer
        return None

    def pointers_named(self, identity):
        """Every pointer an identity names (display names need not be unique)."""
        wanted = str(identity or "").strip().lower()
        return [pointer for pointer in self.pointers if wanted in pointer.names()]

    def unique_pointer(self, identity):
        """The one pointer an identity names; None when none; 400 ambiguous when several (assumption)."""
        found = self.pointers_named(identity)
        if len(found) > 1:
            raise _task_error("The operation couldn't be performed because '%s' matches multiple entries." % identity,
                              "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException", "Ex2E8B41")
        return found[0] if found else None

    def pointer_for_app_parameter(self, value):
        """The pointer -App names: only the GUID Exchange shows as the pointer's identity in this mode."""
        wanted = str(value or "").strip().lower()
        for pointer in self.pointers:
            if pointer.identity(self.app_identity).lower() == wanted:
                return pointer
        return None

    def admin_unit(self, identity):
        """The administrative unit an identity (GUID or display name) names, or None."""
        wanted = str(identity or "").strip().lower()
        for unit in self.admin_units.values():
            if wanted in (unit.guid, unit.display_name.lower()):
                return unit
        return None

    def assignment(self, identity):
        """The assignment an identity (name or GUID) names, or None."""
        wanted = str(identity or "").strip().lower()
        for item in self.assignments:
            if wanted in (item.name.lower(), item.guid):
                return item
        return None

    def scope(self, identity):
        """The scope an identity (name or GUID) names, or None."""
        wanted = str(identity or "").strip().lower()
        for scope in self.scopes.values():
            if wanted in (scope.name.lower(), scope.guid):
                return scope
        return None

    # -- control API --------------------------------------------------------------------

    def describe(self):
        """Everything a test needs to know (GET /_emulator/org)."""
        mode = self.app_identity
        disabled = [mailbox.upn for mailbox in self.tenant.mailboxes if self.mailbox_ews_enabled(mailbox) is False]
        return {
            "app_identity": mode,
            "ews_enabled": self.ews_enabled,
            "ews_allowed_app_ids": list(self.ews_allowed) if self.ews_allowed is not None else None,
            "ews_list_shape": self.ews_list_shape,
            "role_assignee_shape": self.role_assignee_shape,
            "rbac_page_size": self.rbac_page_size,
            "concurrent_writes": [dict(rule) for rule in self.concurrent_writes],
            "concurrent_writes_fired": self.concurrent_writes_fired,
            "mailboxes_ews_disabled": disabled,
            "entra_service_principals": {key: sp.as_dict() for key, sp in self.entra.items()},
            "service_principals": [pointer.record(mode) for pointer in self.pointers],
            "scopes": [scope.record() for scope in self.scopes.values()],
            "assignments": [item.record(mode, self.role_assignee_shape) for item in self.assignments],
            "admin_units": [{"id": unit.guid, "display_name": unit.display_name, "department": unit.department}
                            for unit in self.admin_units.values()],
        }

    def configure(self, body):
        """POST /_emulator/org: see README ("Control API" of the org section). Keys are applied in a fixed order
        (entra apps, pointers, scopes, assignments after the plain settings); each list in its own order."""
        unknown = sorted(set(body) - set(ORG_KEYS))
        if unknown:
            raise ValueError("unknown org keys: %s" % ", ".join(unknown))
        if "app_identity" in body:
            if body["app_identity"] not in APP_IDENTITY_MODES:
                raise ValueError("app_identity must be one of %s" % ", ".join(APP_IDENTITY_MODES))
            self.app_identity = body["app_identity"]
        if "ews_list_shape" in body:
            if body["ews_list_shape"] not in EWS_LIST_SHAPES:
                raise ValueError("ews_list_shape must be one of %s" % ", ".join(EWS_LIST_SHAPES))
            self.ews_list_shape = body["ews_list_shape"]
        if "role_assignee_shape" in body:
            if body["role_assignee_shape"] not in ROLE_ASSIGNEE_SHAPES:
                raise ValueError("role_assignee_shape must be one of %s" % ", ".join(ROLE_ASSIGNEE_SHAPES))
            self.role_assignee_shape = body["role_assignee_shape"]
        if "rbac_page_size" in body:
            size = body["rbac_page_size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError("rbac_page_size must be a positive integer")
            self.rbac_page_size = size
        if "ews_enabled" in body:
            self.ews_enabled = _nullable_bool("ews_enabled", body["ews_enabled"])
        if "ews_allowed_app_ids" in body:
            value = body["ews_allowed_app_ids"]
            self.ews_allowed = None if value is None else [str(item) for item in value]
        for identity, value in (body.get("mailbox_ews") or {}).items():
            mailbox = self.tenant.find_mailbox(identity)
            if mailbox is None:
                raise ValueError("no mailbox %r" % identity)
            self.mailbox_ews[mailbox.guid] = _nullable_bool("mailbox_ews", value)
        for item in _list_of_dicts(body, "add_entra_apps"):
            self._add_entra_app(item)
        for item in _list_of_dicts(body, "add_pointers"):
            self._add_pointer(item)
        for item in _list_of_dicts(body, "add_scopes"):
            self._add_scope(item)
        for item in _list_of_dicts(body, "add_assignments"):
            self._add_assignment(item)
        for item in _list_of_dicts(body, "concurrent_writes"):
            self._add_concurrent_write(item)
        return self.describe()

    def _add_entra_app(self, item):
        key, name = item.get("key"), item.get("display_name")
        if not key or not name:
            raise ValueError("add_entra_apps: each needs key and display_name")
        if key in self.entra:
            raise ValueError("add_entra_apps: key %r exists" % key)
        self.entra[key] = EntraSp(key, _guid(self.tenant, key, "app"), _guid(self.tenant, key, "object"), name)

    def _add_pointer(self, item):
        sp = self.entra.get(item.get("app_key"))
        if sp is None:
            raise ValueError("add_pointers: no Entra app with key %r" % item.get("app_key"))
        if self.pointer(sp.app_id) is not None:
            raise ValueError("add_pointers: the app %r has a pointer already" % sp.key)
        self.pointers.append(Pointer(sp.app_id, sp.object_id, _guid(self.tenant, "service", sp.object_id),
                                     item.get("display_name") or sp.display_name))

    def _add_scope(self, item):
        name, recipient_filter = item.get("name"), item.get("filter")
        if not name or not recipient_filter:
            raise ValueError("add_scopes: each needs name and filter")
        if self.scope(name) is not None:
            raise ValueError("add_scopes: scope %r exists" % name)
        try:
            scope = Scope(name, recipient_filter, _guid(self.tenant, "scope", name.lower()),
                          exclusive=bool(item.get("exclusive", False)))
        except FilterError as exc:
            raise ValueError("add_scopes: bad filter %r: %s" % (recipient_filter, exc)) from exc
        self.scopes[name.lower()] = scope

    def _named_scope(self, item, key, exclusive=None):
        if item.get(key) is None:
            return None
        scope = self.scope(item[key])
        if scope is None:
            raise ValueError("add_assignments: no scope %r" % item[key])
        if exclusive is not None and scope.exclusive != exclusive:  # as Exchange's RoleHelper refuses it
            raise ValueError("add_assignments: %s needs a scope with exclusive=%s" % (key, exclusive))
        return scope

    def _add_assignment(self, item):
        name, role = item.get("name"), item.get("role")
        if not name or not role:
            raise ValueError("add_assignments: each needs name and role")
        if self.assignment(name) is not None:
            raise ValueError("add_assignments: assignment %r exists" % name)
        if ("app_key" in item) == ("role_group" in item):
            raise ValueError("add_assignments: give exactly one of app_key and role_group")
        admin_unit = None
        if item.get("admin_unit") is not None:
            admin_unit = self.admin_unit(item["admin_unit"])
            if admin_unit is None:
                raise ValueError("add_assignments: no administrative unit %r" % item["admin_unit"])
        guid = _guid(self.tenant, "assignment", name.lower())
        if "app_key" in item:
            sp = self.entra.get(item["app_key"])
            pointer = self.pointer(sp.app_id) if sp is not None else None
            if pointer is None:
                raise ValueError("add_assignments: the app %r has no pointer" % item["app_key"])
            if item.get("write_scope") is not None or item.get("exclusive_write_scope") is not None:
                raise ValueError("add_assignments: app assignments take scope, not write scopes")
            assignment = Assignment(name, role, guid, pointer=pointer, scope=self._named_scope(item, "scope"),
                                    admin_unit=admin_unit)
        else:
            if item.get("scope") is not None:
                raise ValueError("add_assignments: role group assignments take write_scope or exclusive_write_scope")
            assignment = Assignment(name, role, guid, admin_unit=admin_unit, assignee=item["role_group"],
                                    assignee_type="RoleGroup",
                                    write_scope=self._named_scope(item, "write_scope", exclusive=False),
                                    exclusive_write_scope=self._named_scope(item, "exclusive_write_scope",
                                                                            exclusive=True))
        self.assignments.append(assignment)

    def _add_concurrent_write(self, item):
        on, nth = item.get("on"), item.get("nth")
        if not on or isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
            raise ValueError("concurrent_writes: each needs on (a cmdlet name) and nth (>= 1)")
        unknown = sorted(set(item) - {"on", "nth", "ews_add", "ews_remove", "ews_set"})
        if unknown:
            raise ValueError("concurrent_writes: unknown keys %s" % ", ".join(unknown))
        rule = {"on": str(on), "nth": nth, "seen": 0}
        for key in ("ews_add", "ews_remove"):
            if key in item:
                rule[key] = [str(value) for value in item[key] or ()]
        if "ews_set" in item:
            rule["ews_set"] = None if item["ews_set"] is None else [str(value) for value in item["ews_set"]]
        self.concurrent_writes.append(rule)

    def after_call(self, cmdlet, params):
        """Count a call the service ran; fire the concurrent_writes rules whose nth call this was (lock held)."""
        if not self.concurrent_writes:
            return
        if cmdlet == "Get-OrganizationConfig" and not params.get(RETRIEVE_SWITCH):
            return
        fired = []
        for rule in self.concurrent_writes:
            if rule["on"].lower() != cmdlet.lower():
                continue
            rule["seen"] += 1
            if rule["seen"] >= rule["nth"]:
                fired.append(rule)
        for rule in fired:
            self.concurrent_writes.remove(rule)
            self._apply_concurrent_write(rule)
            self.concurrent_writes_fired += 1

    def _apply_concurrent_write(self, rule):
        """Another writer's change of the allow list: set (null clears), then remove, then add."""
        allowed = list(self.ews_allowed or [])
        if "ews_set" in rule:
            allowed = list(rule["ews_set"] or [])
        removed = {value.lower() for value in rule.get("ews_remove", ())}
        allowed = [value for value in allowed if value.lower() not in removed]
        for value in rule.get("ews_add", ()):
            if value.lower() not in {item.lower() for item in allowed}:
                allowed.append(value)
        self.ews_allowed = allowed or None


def _list_of_dicts(body, key):
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("%s must be a list of objects" % key)
    return value


def state(tenant):
    """The tenant's OrgState (seeded on first use, forgotten by a tenant reset)."""
    with tenant.lock:
        org = tenant.extensions.get("org")
        if org is None:
            org = tenant.extensions["org"] = OrgState(tenant)
        return org


def after_call(call):
    """cmdlets.run calls this after every cmdlet the service ran (the concurrent_writes rules)."""
    with call.tenant.lock:
        org = call.tenant.extensions.get("org")
        if org is not None:
            org.after_call(call.cmdlet, call.params)


def control(tenant, method, body):
    """GET /_emulator/org (describe) or POST (configure, then describe); ValueError for anything else."""
    org = state(tenant)
    with tenant.lock:
        if method == "POST":
            return org.configure(body or {})
        if method == "GET":
            return org.describe()
    raise ValueError("use GET or POST on /_emulator/org")


# -- organisation config ------------------------------------------------------------------


def _allow_list_value(org):
    """The list as -RetrieveEwsOperationAccessPolicy returns it, in the configured ews_list_shape (null stays null)."""
    if not org.ews_allowed:
        return None
    if org.ews_list_shape == "string":
        return ",".join(org.ews_allowed)
    if org.ews_list_shape == "array_joined":
        return [",".join(org.ews_allowed)]
    return list(org.ews_allowed)


def get_organization_config(call):
    """Get-OrganizationConfig: the allow list only with -RetrieveEwsOperationAccessPolicy."""
    org = state(call.tenant)
    with call.tenant.lock:
        record = {"Identity": call.tenant.domain, "Name": call.tenant.domain, "DisplayName": "Contoso",
                  "EwsEnabled": org.ews_enabled, "EwsApplicationAccessPolicy": None, "EwsAllowList": None,
                  "EwsBlockList": None, "EwsAllowOutlook": None, "EwsAllowMacOutlook": None, "EwsAllowEntourage": None,
                  "EwsAllowedAppIDs": None, "IsValid": True, "ObjectState": "Unchanged"}
        if call.params.get("RetrieveEwsOperationAccessPolicy"):
            record["EwsAllowedAppIDs"] = _allow_list_value(org)
    return call.answer([record])


def _parse_allow_list(value):
    """The -EwsAllowedAppIDs value: a comma-separated String of GUIDs, or $null to clear the list."""
    if value is None:
        return None
    if isinstance(value, (list, dict, bool)):
        raise binding("Cannot convert 'System.Object[]' to the type 'System.String' required by parameter "
                      "'EwsAllowedAppIDs'. Specified method is not supported.")
    items = [item.strip() for item in str(value).split(",") if item.strip()]
    bad = [item for item in items if not _is_guid(item)]
    if bad:
        raise _task_error("The value \"%s\" of parameter EwsAllowedAppIDs isn't a valid application ID. Specify the "
                          "application (client) IDs as GUIDs separated by commas." % bad[0])
    return items or None


def set_organization_config(call):
    """Set-OrganizationConfig -EwsEnabled / -EwsAllowedAppIDs (the list is replaced as a whole)."""
    org = state(call.tenant)
    params = call.params
    enabled = _nullable_bool("EwsEnabled", params["EwsEnabled"]) if "EwsEnabled" in params else org.ews_enabled
    allowed = _parse_allow_list(params["EwsAllowedAppIDs"]) if "EwsAllowedAppIDs" in params else org.ews_allowed
    with call.tenant.lock:
        org.ews_enabled = enabled
        org.ews_allowed = allowed
    return call.answer([])


# -- CAS mailboxes --------------------------------------------------------------------------


class CasView:
    """A mailbox seen through Get-CASMailbox: recipient properties plus EwsEnabled for OPATH."""

    __slots__ = ("recipient", "ews")

    def __init__(self, recipient, ews):
        self.recipient = recipient
        self.ews = ews

    def prop(self, name):
        """EwsEnabled compares as 1, 0 or $null (filter-properties); the rest as on the recipient."""
        if name == "ewsenabled":
            return None if self.ews is None else int(self.ews)
        return self.recipient.prop(name)


def _cas_record(org, mailbox):
    return {"Identity": mailbox.name, "Name": mailbox.name, "DisplayName": mailbox.display,
            "PrimarySmtpAddress": mailbox.smtp, "Guid": mailbox.guid, "ExternalDirectoryObjectId": mailbox.edoid,
            "EwsEnabled": org.mailbox_ews_enabled(mailbox), "EwsAllowOutlook": None, "EwsAllowMacOutlook": None,
            "EwsAllowEntourage": None, "EwsApplicationAccessPolicy": None, "EwsAllowList": None, "EwsBlockList": None,
            "OWAEnabled": True, "ActiveSyncEnabled": True, "PopEnabled": True, "ImapEnabled": True, "MapiEnabled": True,
            "IsValid": True, "ObjectState": "Unchanged"}


def get_cas_mailbox(call):
    """Get-CASMailbox: one mailbox, or a paged listing narrowed by RecipientTypeDetails and Filter."""
    tenant, params = call.tenant, call.params
    org = state(tenant)
    if "Identity" in params:
        mailbox = tenant.find_mailbox(params["Identity"])
        if mailbox is None:
            raise not_found(params["Identity"], status=404)
        return call.answer([_cas_record(org, mailbox)])
    snapshots = call.engine.snapshots
    if call.skiptoken:
        items, offset, truncated, snapshot_id = snapshots.resume(call.skiptoken, call.input_key)
    else:
        items, truncated = _cas_listing(org, params)
        offset, snapshot_id = 0, None
    page = items[offset:offset + call.page_size]
    end = offset + len(page)
    warnings, next_link = [], None
    if end < len(items):
        if snapshot_id is None:
            snapshot_id = snapshots.store(items, truncated, call.input_key)
        next_link = "%s?%%24skiptoken=%s" % (call.link_base, snapshots.token(snapshot_id, end))
    elif truncated:
        warnings.append(RESULT_SIZE_WARNING if "ResultSize" not in params else RESULT_SIZE_WARNING_SET)
    with tenant.lock:
        value = [_cas_record(org, mailbox) for mailbox in page]
    return call.answer(value, warnings, next_link)


def _cas_listing(org, params):
    tenant = org.tenant
    predicate = None
    if "Filter" in params:
        try:
            predicate = compile_filter(params["Filter"])
        except FilterError as exc:
            raise _filter_error(params["Filter"], exc) from exc
    types = set(params.get("RecipientTypeDetails") or ())
    with tenant.lock:
        source = [mailbox for mailbox in tenant.mailboxes if not types or mailbox.rtd in types]
        if predicate is not None:
            source = [mailbox for mailbox in source if predicate(CasView(mailbox, org.mailbox_ews_enabled(mailbox)))]
    limit = params.get("ResultSize", DEFAULT_RESULT_SIZE)
    truncated = limit is not None and len(source) > limit
    return (source[:limit] if truncated else source), truncated


def set_cas_mailbox(call):
    """Set-CASMailbox -EwsEnabled."""
    tenant, params = call.tenant, call.params
    mailbox = tenant.find_mailbox(params["Identity"])
    if mailbox is None:
        raise not_found(params["Identity"], status=400)
    if "EwsEnabled" in params:
        value = _nullable_bool("EwsEnabled", params["EwsEnabled"])
        with tenant.lock:
            state(tenant).mailbox_ews[mailbox.guid] = value
    return call.answer([])


# -- paged RBAC listings ----------------------------------------------------------------------


def _paged(call, org, build):
    """A listing that pages like Get-Mailbox: pages of min(Prefer odata.maxpagesize, rbac_page_size) records,
    @odata.nextLink with $skiptoken (same body POSTed to it). build() makes the records of a first call."""
    snapshots = call.engine.snapshots
    if call.skiptoken:
        items, offset, _truncated, snapshot_id = snapshots.resume(call.skiptoken, call.input_key)
    else:
        with call.tenant.lock:
            items = build()
        offset, snapshot_id = 0, None
    size = max(1, min(call.page_size, org.rbac_page_size))
    page = items[offset:offset + size]
    end = offset + len(page)
    next_link = None
    if call.loop_next or end < len(items):
        if snapshot_id is None:
            snapshot_id = snapshots.store(items, False, call.input_key)
        next_link = call.next_link(snapshots.token(snapshot_id, offset if call.loop_next else end))
    return call.answer(page, [], next_link)


# -- service principals ---------------------------------------------------------------------


def get_service_principal(call):
    """Get-ServicePrincipal: a missing, $null or unknown -Identity returns every pointer, paged (the documented
    caution); a known one its pointer(s) (a display name may name several)."""
    org = state(call.tenant)
    if not call.skiptoken and call.params.get("Identity") is not None:
        with call.tenant.lock:
            found = org.pointers_named(call.params["Identity"])
            if found:
                return call.answer([pointer.record(org.app_identity) for pointer in found])
    return _paged(call, org, lambda: [pointer.record(org.app_identity) for pointer in org.pointers])


def new_service_principal(call):
    """New-ServicePrincipal -AppId -ObjectId (or the deprecated -ServiceId) [-DisplayName]."""
    org = state(call.tenant)
    params = call.params
    app_id = params["AppId"].strip()
    object_id = (params.get("ObjectId") or params.get("ServiceId") or "").strip()
    if not object_id:
        raise binding("Cannot process command because of one or more missing mandatory parameters: ObjectId.")
    for name, value in (("AppId", app_id), ("ObjectId", object_id)):
        if not _is_guid(value):
            raise binding("Cannot process argument transformation on parameter '%s'. \"%s\" is not a valid GUID." % (name, value))
    with call.tenant.lock:
        entra = [sp for sp in org.entra.values() if sp.app_id.lower() == app_id.lower()]
        if not entra or entra[0].object_id.lower() != object_id.lower():
            raise _task_error("No service principal with AppId %s and ObjectId %s exists in Microsoft Entra ID. Use the "
                              "Application ID and Object ID of the app's Enterprise application." % (app_id, object_id))
        if org.pointer(app_id) is not None:
            raise _already_exists("service principal", app_id)
        sp = entra[0]
        pointer = Pointer(sp.app_id, sp.object_id, _guid(call.tenant, "service", sp.object_id),
                          params.get("DisplayName") or sp.display_name)
        org.pointers.append(pointer)
        return call.answer([pointer.record(org.app_identity)])


def remove_service_principal(call):
    """Remove-ServicePrincipal; refused while role assignments still use the pointer (assumption)."""
    org = state(call.tenant)
    with call.tenant.lock:
        pointer = org.unique_pointer(call.params["Identity"])
        if pointer is None:
            raise not_found(call.params["Identity"], status=400)
        used = [item.name for item in org.assignments if item.pointer is pointer]
        if used:
            raise _task_error("The service principal \"%s\" has role assignments (%s). Remove them first."
                              % (pointer.display_name, ", ".join(used)))
        org.pointers.remove(pointer)
    return call.answer([])


# -- management scopes ------------------------------------------------------------------------


def _scope_records(org, params, scopes):
    if params.get("Orphan"):
        used = {id(scope) for item in org.assignments for scope in item.scopes_used()}
        scopes = [scope for scope in scopes if id(scope) not in used]
    if "Exclusive" in params:
        scopes = [scope for scope in scopes if scope.exclusive == params["Exclusive"]]
    return [scope.record() for scope in scopes]


def get_management_scope(call):
    """Get-ManagementScope [-Identity] [-Orphan] [-Exclusive]; the listing pages."""
    org = state(call.tenant)
    params = call.params
    if "Identity" in params and not call.skiptoken:
        with call.tenant.lock:
            scope = org.scope(params["Identity"])
            if scope is None:
                raise not_found(params["Identity"], status=404)
            return call.answer(_scope_records(org, params, [scope]))
    return _paged(call, org, lambda: _scope_records(org, params, list(org.scopes.values())))


def _compiled_scope_filter(text):
    try:
        compile_filter(text)
    except FilterError as exc:
        raise _filter_error(text, exc) from exc
    return text


def new_management_scope(call):
    """New-ManagementScope -Name -RecipientRestrictionFilter."""
    org = state(call.tenant)
    params = call.params
    recipient_filter = _compiled_scope_filter(params["RecipientRestrictionFilter"])
    with call.tenant.lock:
        if org.scope(params["Name"]) is not None:
            raise _already_exists("management scope", params["Name"])
        scope = Scope(params["Name"], recipient_filter, str(uuid.uuid4()), exclusive=bool(params.get("Exclusive")))
        org.scopes[scope.name.lower()] = scope
        return call.answer([scope.record()])


def set_management_scope(call):
    """Set-ManagementScope -Identity -RecipientRestrictionFilter."""
    org = state(call.tenant)
    params = call.params
    with call.tenant.lock:
        scope = org.scope(params["Identity"])
        if scope is None:
            raise not_found(params["Identity"], status=400)
        if "RecipientRestrictionFilter" in params:
            scope.filter = _compiled_scope_filter(params["RecipientRestrictionFilter"])
            scope.predicate = compile_filter(scope.filter)
    return call.answer([])


def remove_management_scope(call):
    """Remove-ManagementScope; refused while a role assignment uses the scope."""
    org = state(call.tenant)
    with call.tenant.lock:
        scope = org.scope(call.params["Identity"])
        if scope is None:
            raise not_found(call.params["Identity"], status=400)
        used = [item.name for item in org.assignments if any(used is scope for used in item.scopes_used())]
        if used:
            raise _task_error("The management scope \"%s\" can't be removed because it's used by the management role "
                              "assignments %s." % (scope.name, ", ".join(used)))
        del org.scopes[scope.name.lower()]
    return call.answer([])


# -- roles and role assignments -----------------------------------------------------------------


def get_management_role(call):
    """Get-ManagementRole [-Identity]; the listing pages."""
    identity = call.params.get("Identity")
    roles = [(name, "ApplicationRole") for name in APPLICATION_ROLES] + [(name, "Other") for name in OTHER_ROLES]
    records = [{"Identity": name, "Name": name, "RoleType": kind, "IsValid": True} for name, kind in roles]
    if identity is not None and not call.skiptoken:
        records = [record for record in records if record["Name"].lower() == identity.strip().lower()]
        if not records:
            raise not_found(identity, status=404)
        return call.answer(records)
    return _paged(call, state(call.tenant), lambda: records)


def get_management_role_assignment(call):
    """Get-ManagementRoleAssignment [-Identity | -Role] [-RoleAssignee]."""
    org = state(call.tenant)
    params = call.params
    if "Identity" in params and ("Role" in params or "RoleAssignee" in params):
        raise binding("Parameter set cannot be resolved using the specified named parameters.")
    shape = org.role_assignee_shape
    if "Identity" in params and not call.skiptoken:
        with call.tenant.lock:
            found = org.assignment(params["Identity"])
            if found is None:
                raise not_found(params["Identity"], status=404)
            return call.answer([found.record(org.app_identity, shape)])

    def build():
        items = list(org.assignments)
        if "Role" in params:
            items = [item for item in items if item.role.lower() == params["Role"].strip().lower()]
        if "RoleAssignee" in params:  # a display name may name several pointers: all of them (assumption)
            pointers = org.pointers_named(params["RoleAssignee"])
            wanted = params["RoleAssignee"].strip().lower()
            items = [item for item in items if any(item.pointer is pointer for pointer in pointers)
                     or (item.assignee or "").lower() == wanted]
        return [item.record(org.app_identity, shape) for item in items]
    return _paged(call, org, build)


def new_management_role_assignment(call):
    """New-ManagementRoleAssignment -App -Role [-CustomResourceScope | -RecipientAdministrativeUnitScope] [-Name]."""
    org = state(call.tenant)
    params = call.params
    if "CustomResourceScope" in params and "RecipientAdministrativeUnitScope" in params:
        raise binding("Parameter set cannot be resolved using the specified named parameters.")
    role = next((name for name in APPLICATION_ROLES if name.lower() == params["Role"].strip().lower()), None)
    if role is None:
        if params["Role"].strip().lower() in (name.lower() for name in OTHER_ROLES):
            raise _task_error("The role \"%s\" isn't an application role and can't be assigned to a service principal."
                              % params["Role"])
        raise not_found(params["Role"], status=400)
    name = params.get("Name")
    if name is not None and len(name) > MAX_ASSIGNMENT_NAME:
        raise binding("Cannot validate argument on parameter 'Name'. The character length of the %d argument is too "
                      "long. Shorten the character length of the argument so it is fewer than or equal to \"%d\" "
                      "characters, and then try the command again." % (len(name), MAX_ASSIGNMENT_NAME))
    with call.tenant.lock:
        pointer = org.pointer_for_app_parameter(params["App"])
        if pointer is None:
            raise not_found(params["App"], status=400)
        scope = admin_unit = None
        if "CustomResourceScope" in params:
            scope = org.scope(params["CustomResourceScope"])
            if scope is None:
                raise not_found(params["CustomResourceScope"], status=400)
        if "RecipientAdministrativeUnitScope" in params:
            admin_unit = org.admin_unit(params["RecipientAdministrativeUnitScope"])
            if admin_unit is None:
                raise not_found(params["RecipientAdministrativeUnitScope"], status=400)
        name = name or ("%s-%s" % (role, pointer.display_name))[:MAX_ASSIGNMENT_NAME]
        if org.assignment(name) is not None:
            raise _already_exists("management role assignment", name)
        item = Assignment(name, role, str(uuid.uuid4()), pointer=pointer, scope=scope, admin_unit=admin_unit)
        org.assignments.append(item)
        return call.answer([item.record(org.app_identity, org.role_assignee_shape)])


def remove_management_role_assignment(call):
    """Remove-ManagementRoleAssignment -Identity."""
    org = state(call.tenant)
    with call.tenant.lock:
        item = org.assignment(call.params["Identity"])
        if item is None:
            raise not_found(call.params["Identity"], status=400)
        org.assignments.remove(item)
    return call.answer([])


def check_service_principal_authorization(call):
    """Test-ServicePrincipalAuthorization -Identity [-Resource]: one row per role assignment of the pointer."""
    tenant, org = call.tenant, state(call.tenant)
    params = call.params
    with tenant.lock:
        pointer = org.unique_pointer(params["Identity"])
        if pointer is None:
            raise not_found(params["Identity"], status=400)
        resource = None
        if "Resource" in params:
            resource = tenant.find_mailbox(params["Resource"])
            if resource is None:
                raise not_found(params["Resource"], status=400)
        rows = []
        for item in org.assignments:
            if item.pointer is not pointer:
                continue
            if item.scope is not None:
                allowed = item.scope.name
            elif item.admin_unit is not None:
                allowed = item.admin_unit.guid
            else:
                allowed = "Organization"
            rows.append({"RoleName": item.role, "GrantedPermissions": item.role.replace("Application ", "", 1),
                         "AllowedResourceScope": allowed, "ScopeType": item.scope_type(),
                         "InScope": item.covers(resource) if resource is not None else "Not Run"})
        return call.answer(rows)


HANDLERS = {
    "Get-OrganizationConfig": get_organization_config, "Set-OrganizationConfig": set_organization_config,
    "Get-CASMailbox": get_cas_mailbox, "Set-CASMailbox": set_cas_mailbox,
    "Get-ServicePrincipal": get_service_principal, "New-ServicePrincipal": new_service_principal,
    "Remove-ServicePrincipal": remove_service_principal,
    "Get-ManagementScope": get_management_scope, "New-ManagementScope": new_management_scope,
    "Set-ManagementScope": set_management_scope, "Remove-ManagementScope": remove_management_scope,
    "Get-ManagementRole": get_management_role, "Get-ManagementRoleAssignment": get_management_role_assignment,
    "New-ManagementRoleAssignment": new_management_role_assignment,
    "Remove-ManagementRoleAssignment": remove_management_role_assignment,
    "Test-ServicePrincipalAuthorization": check_service_principal_authorization,
}


def register(specs, mandatory, handlers, cmdlets):
    """Add these cmdlets to the tables of cmdlets.py."""
    specs.update(SPECS)
    mandatory.update(MANDATORY)
    handlers.update(HANDLERS)
    cmdlets.update({name.lower(): name for name in SPECS})
