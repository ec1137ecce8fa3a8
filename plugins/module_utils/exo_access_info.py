# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How an app reaches Exchange Online mailboxes today, read side by side (o365_app_access_info).

Everything here reads; nothing is written. Each part is one public source's rule:

- the organisation's EWS policy (Set-OrganizationConfig.md, PR 13643/13657): ``EwsEnabled``
  false = no app; ``$null`` = the allow list has no effect (every app); true = only the apps in
  ``EwsAllowedAppIDs``, and an empty list means no restriction by app ID. The list is read with
  ``-RetrieveEwsOperationAccessPolicy`` (a plain read does not return it) in all three public
  shapes (exo_ews_policy.read_policy).
- the mailbox-level ``EwsEnabled`` (Get-CASMailbox), through exo_ews_mailboxes.
- RBAC for Applications (application-rbac): the app's pointer (Get-ServicePrincipal), its role
  assignments and their scopes, and Test-ServicePrincipalAuthorization, which reads the
  assignments directly (it does not include Entra grants).
- Entra application permissions, from Microsoft Graph with a token the caller gives:
  GET /servicePrincipals?$filter=appId eq '...', its /appRoleAssignments, and each resource's
  appRoles to name a permission (serviceprincipal-list-approleassignments: Application.Read.All).
  Entra and RBAC grants add up, so a tenant-wide Entra permission makes a scoped RBAC grant of
  the same access moot.
- a legacy trustee's FullAccess (Get-MailboxPermission through exo_grants in check mode, the
  state file trusted as o365_mailbox_fullaccess trusts it).

EWS in Exchange Online is switched off on 1 April 2027; every path here uses EWS, so a path that
works today is reported as ending then.
"""

from __future__ import annotations

import datetime
import json
import math
import time
from urllib.parse import quote, urlsplit

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_app_rbac import (
    app_parameter,
    assignment_scope,
    summarize_assignment,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import explain_tls_error, read_within
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError, explain_error
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import canonical_guid, read_policy
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_grants import GrantEngine
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_report import limited
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import BatchRunner

try:
    import requests
except ImportError:  # pragma: no cover - ExoModule fails first with missing_required_lib
    requests = None

EWS_END = datetime.date(2027, 4, 1)
EWS_ROLE = "Application EWS.AccessAsApp"
EXCHANGE_RESOURCE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"
FULL_ACCESS_AS_APP = "full_access_as_app"
# Microsoft Graph per cloud (learn.microsoft.com/graph/deployments).
GRAPH_URLS = {
    "commercial": "https://graph.microsoft.com",
    "gcc_high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
    "china": "https://microsoftgraph.chinacloudapi.cn",
}
# Application permissions that open mailbox contents (the permission name's prefix).
MAILBOX_PERMISSION_PREFIXES = ("full_access_as_app", "mail.", "calendars.", "contacts.", "mailboxsettings.",
                               "mailboxitem.", "mailboxfolder.", "mailboxconfigitem.", "tasks.")
GRAPH_ATTEMPTS = 3
GRAPH_MAX_WAIT = 10.0
GRAPH_MAX_PAGES = 1000
STATUS_ENDS = "ends_2027_04_01"
STATUS_NOT_READY = "not_ready"
STATUS_UNKNOWN = "unknown"


class AccessInfoError(ConfigurationError):
    """An answer or an option this module cannot use; the message says what and how to fix it."""


def today():
    """The current date in UTC (a function so tests can move the clock)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def _records(result, cmdlet):
    """The records of a listing; every one must be an object."""
    records = result.value if result.value is not None else []
    if not isinstance(records, list) or any(not isinstance(record, dict) for record in records):
        raise AccessInfoError("%s answered with something that is not a list of objects, so no report was made. Run "
                              "again; if it persists, report it with the debug_log file of the run." % cmdlet)
    return records


def _is_true(value):
    return value is True or str(value).strip().lower() == "true"


# -- the organisation's EWS policy --------------------------------------------------------


def read_ews_policy(client):
    """{"ews_enabled": True/False/None, "ews_allowed_app_ids": [...]}, read as o365_ews_access reads it."""
    return read_policy(client).as_dict()


def ews_for_app(policy, app_id):
    """Whether the organisation's policy lets this app use EWS today, and what that means."""
    enabled, entries = policy["ews_enabled"], policy["ews_allowed_app_ids"]
    listed = any(canonical_guid(entry) == app_id for entry in entries)
    if enabled is False:
        allowed, meaning = False, "EwsEnabled is false: no app may use EWS, whatever the allow list says."
    elif enabled is None:
        allowed, meaning = True, ("EwsEnabled is not configured ($null): the allow list has no effect and every app may "
                                  "use EWS. Microsoft set such tenants to false on 1 October 2026; set it to true with "
                                  "the app listed (o365_ews_access).")
    elif not entries:
        allowed, meaning = True, ("EwsEnabled is true with an empty EwsAllowedAppIDs, which Set-OrganizationConfig "
                                  "documents as no restriction by app ID: every app may use EWS.")
    elif listed:
        allowed, meaning = True, "EwsEnabled is true and the app is in EwsAllowedAppIDs."
    else:
        allowed, meaning = False, ("EwsEnabled is true and the app is not in EwsAllowedAppIDs: its EWS requests get "
                                   "HTTP 403 'EWS is blocked by policy for this user or tenant'.")
    return {"listed": listed, "allowed": allowed, "meaning": meaning,
            "on_2027_04_01": "EWS in Exchange Online is switched off for every app; this policy no longer matters."}


# -- RBAC for Applications ----------------------------------------------------------------


class RbacListing:
    """The tenant's pointers and management scopes (complete listings), and each app's role assignments."""

    def __init__(self, client):
        self.client = client
        self.pointers = _records(client.invoke("Get-ServicePrincipal", {}), "Get-ServicePrincipal")
        self.scopes = {}
        for scope in _records(client.invoke("Get-ManagementScope", {}), "Get-ManagementScope"):
            for key in ("Name", "Identity", "Guid"):
                if scope.get(key):
                    self.scopes[str(scope[key]).strip().lower()] = scope

    def pointer(self, app_id):
        """The app's pointer (matched by AppId), or None."""
        return next((record for record in self.pointers if canonical_guid(record.get("AppId")) == app_id), None)

    def for_app(self, app_id):
        """{"service_principal", "assignments"} of one app; assignments sorted by name."""
        pointer = self.pointer(app_id)
        if pointer is None:
            return {"service_principal": None, "assignments": []}
        # Exchange says which assignments are the pointer's (-RoleAssignee with its GUID): an assignment's
        # RoleAssignee may show a display name, and every MSE pointer gets the same one (as exo_app_rbac reads them).
        records = _records(self.client.invoke("Get-ManagementRoleAssignment", {"RoleAssignee": app_parameter(pointer)}),
                           "Get-ManagementRoleAssignment")
        rows = [self.describe(record) for record in records]
        rows.sort(key=lambda row: (str(row["role"]).lower(), str(row["name"]).lower()))
        return {"service_principal": {"app_id": app_id, "identity": app_parameter(pointer),
                                      "display_name": pointer.get("DisplayName")},
                "assignments": rows, "_pointer": pointer}

    def describe(self, record):
        """One assignment: name, role, scope kind and what bounds it (filter, admin unit)."""
        summary = summarize_assignment(record)
        kind, value = assignment_scope(record)
        row = {"name": summary["name"], "role": summary["role"], "scope_type": kind, "scope": summary["scope"],
               "recipient_filter": None, "admin_unit": value if kind == "admin_unit" else None}
        if kind == "scope":
            scope = self.scopes.get(value)
            if scope is None:
                row["recipient_filter"] = None
                row["scope_missing"] = True
            else:
                row["recipient_filter"] = scope.get("RecipientRestrictionFilter") or scope.get("RecipientFilter")
        return row


def authorization_tests_for(client, pointer, mailboxes):
    """Test-ServicePrincipalAuthorization for each mailbox: one row per role the app holds."""
    rows = []
    for mailbox in mailboxes:
        try:
            answer = client.invoke("Test-ServicePrincipalAuthorization",
                                   {"Identity": app_parameter(pointer), "Resource": mailbox})
        except ExoError as exc:
            if exc.kind == "not_found":
                raise AccessInfoError("test_mailboxes: %s does not exist in Exchange Online (%s). Fix: correct the "
                                      "address." % (mailbox, exc.message))
            raise
        for record in _records(answer, "Test-ServicePrincipalAuthorization"):
            in_scope = record.get("InScope")
            rows.append({"mailbox": mailbox, "role": record.get("RoleName"),
                         "in_scope": in_scope if isinstance(in_scope, bool) or in_scope is None
                         else (_is_true(in_scope) if str(in_scope).lower() in ("true", "false") else str(in_scope)),
                         "scope_type": record.get("ScopeType"),
                         "allowed_resource_scope": record.get("AllowedResourceScope")})
    rows.sort(key=lambda row: (row["mailbox"].lower(), str(row["role"]).lower()))
    return rows


# -- Microsoft Graph ----------------------------------------------------------------------


def graph_endpoint(cloud, graph_url=None):
    """The Graph base URL: graph_url (https only) or the cloud's."""
    url = (graph_url or GRAPH_URLS[cloud]).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname or parts.path not in ("",) or parts.query:
        raise AccessInfoError("graph_url must be an https:// URL of Microsoft Graph without a path, such as "
                              "https://graph.microsoft.com; got %r" % (graph_url,))
    return url


def retry_wait(value):
    """Seconds to wait before the next try: Retry-After when it is a finite number, within 0..GRAPH_MAX_WAIT."""
    try:
        wait = float(value)
    except (TypeError, ValueError):
        return 2.0
    return min(max(wait, 0.0), GRAPH_MAX_WAIT) if math.isfinite(wait) else 2.0


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or 443


class GraphReader:
    """GET requests to Microsoft Graph with the caller's token, to graph_url only, no redirects followed."""

    def __init__(self, session, base_url, token, verify=True, timeout=60, sleep=time.sleep):
        self.session = session
        self.base_url = base_url
        self.token = token
        self.verify = verify
        self.timeout = timeout
        self.sleep = sleep
        self.requests = 0
        self._origin = _origin(base_url)
        self._resources = {}

    def get(self, url):
        """One answer as JSON (a dict); retried on 429/5xx and dropped connections; raises AccessInfoError."""
        if _origin(url) != self._origin:
            raise AccessInfoError("Microsoft Graph pointed to %s://%s, which is not graph_url's host: the token is not "
                                  "sent there, and no report was made." % urlsplit(url)[:2])
        problem = None
        for attempt in range(GRAPH_ATTEMPTS):
            if attempt:
                self.sleep(problem[1])
            status, body, wait = self._send(url)
            if status == 200:
                return self._json(body, url)
            problem = (self._explain(status, body), wait)
            if status not in (429, 500, 502, 503, 504, None):
                break
        raise AccessInfoError(problem[0])

    def _send(self, url):
        self.requests += 1
        deadline = time.monotonic() + self.timeout
        try:
            response = self.session.get(url, headers={"Authorization": "Bearer " + self.token,
                                                      "Accept": "application/json"},
                                        verify=self.verify, timeout=self.timeout, allow_redirects=False, stream=True)
        except requests.exceptions.SSLError as exc:
            raise AccessInfoError(explain_tls_error(exc, url))
        except requests.exceptions.RequestException as exc:
            return None, b"no answer (%s)" % exc.__class__.__name__.encode(), 2.0
        try:
            if 300 <= response.status_code < 400:
                raise AccessInfoError("Microsoft Graph answered %d with a redirect; redirects are never followed, so the "
                                      "token was not sent elsewhere. Fix: check graph_url and any proxy."
                                      % response.status_code)
            try:
                body = read_within(response, deadline)
            except requests.exceptions.RequestException:
                return None, b"the answer was cut off", 2.0
            return response.status_code, body, retry_wait(response.headers.get("Retry-After"))
        finally:
            response.close()

    @staticmethod
    def _explain(status, body):
        code, message = "", ""
        try:
            error = json.loads(body.decode("utf-8")).get("error") or {}
            code, message = str(error.get("code") or ""), str(error.get("message") or "")[:300]
        except (ValueError, AttributeError, UnicodeDecodeError):
            message = body.decode("utf-8", "replace")[:200] if isinstance(body, bytes) else ""
        said = "%s%s" % (code, (": " + message) if message else "")
        if status == 401:
            return ("Microsoft Graph refused graph_access_token (401 %s). It is expired, or not a token for Microsoft "
                    "Graph (its audience must be Graph, e.g. scope https://graph.microsoft.com/.default). Fix: pass a fresh "
                    "Graph token." % said)
        if status == 403:
            return ("Microsoft Graph refused to list service principals and their permissions (403 %s). Fix: grant the "
                    "app whose token this is the Microsoft Graph application permission Application.Read.All, with admin "
                    "consent." % said)
        if status is None:
            return "Microsoft Graph did not answer: %s." % body.decode("utf-8", "replace")
        return "Microsoft Graph answered HTTP %d %s." % (status, said)

    @staticmethod
    def _json(body, url):
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise AccessInfoError("Microsoft Graph answered %s with something that is not a JSON object; no report was "
                                  "made." % urlsplit(url).path)
        return data

    def collection(self, url):
        """Every item of a collection, following @odata.nextLink to the end."""
        items, seen = [], set()
        while url:
            if url in seen or len(seen) >= GRAPH_MAX_PAGES:
                raise AccessInfoError("Microsoft Graph kept returning next-page links (%s); the listing would never end."
                                      % urlsplit(url).path)
            seen.add(url)
            page = self.get(url)
            value = page.get("value")
            if not isinstance(value, list) or any(not isinstance(item, dict) for item in value):
                raise AccessInfoError("Microsoft Graph answered %s without a list of objects in 'value'; no report was "
                                      "made." % urlsplit(url).path)
            items.extend(value)
            url = page.get("@odata.nextLink")
            if url is not None and not isinstance(url, str):
                raise AccessInfoError("Microsoft Graph answered with an @odata.nextLink that is not a URL.")
        return items

    def resource(self, object_id):
        """A resource service principal (appId, displayName, appRoles by id), read once."""
        if object_id not in self._resources:
            data = self.get("%s/v1.0/servicePrincipals/%s?$select=id,appId,displayName,appRoles"
                            % (self.base_url, quote(object_id, safe="")))
            roles = data.get("appRoles") if isinstance(data.get("appRoles"), list) else []
            self._resources[object_id] = {
                "app_id": canonical_guid(data.get("appId")), "name": data.get("displayName"),
                "roles": {str(role.get("id")).lower(): role.get("value") for role in roles if isinstance(role, dict)}}
        return self._resources[object_id]

    def permissions(self, app_id):
        """{"service_principal_id", "permissions": [...]} of an app's Entra application permissions."""
        found = self.collection("%s/v1.0/servicePrincipals?$filter=%s&$select=id,appId,displayName"
                                % (self.base_url, quote("appId eq '%s'" % app_id, safe="")))
        found = [item for item in found if canonical_guid(item.get("appId")) == app_id]
        if not found:
            return {"service_principal_id": None, "permissions": []}
        object_id = canonical_guid(found[0].get("id"))
        if object_id is None:
            raise AccessInfoError("Microsoft Graph returned the service principal of app %s without an id." % app_id)
        rows = []
        for item in self.collection("%s/v1.0/servicePrincipals/%s/appRoleAssignments" % (self.base_url, object_id)):
            if item.get("deletedDateTime"):
                continue
            resource_id = canonical_guid(item.get("resourceId"))
            role_id = str(item.get("appRoleId") or "").lower()
            if resource_id is None or not role_id:
                raise AccessInfoError("Microsoft Graph returned an app role assignment without resourceId or appRoleId.")
            resource = self.resource(resource_id)
            name = resource["roles"].get(role_id)
            rows.append({"resource": resource["name"] or item.get("resourceDisplayName"),
                         "resource_app_id": resource["app_id"],
                         # An id the resource does not list (a removed role) is shown as the id.
                         "permission": name or "unknown app role %s" % role_id,
                         "mailbox_access": bool(name) and name.lower().startswith(MAILBOX_PERMISSION_PREFIXES)})
        rows.sort(key=lambda row: (str(row["resource"]).lower(), row["permission"].lower()))
        return {"service_principal_id": object_id, "permissions": rows}


def rbac_equivalent(permission):
    """The RBAC for Applications role that gives the same access as an Entra permission, scoped."""
    if permission["resource_app_id"] == EXCHANGE_RESOURCE_APP_ID and permission["permission"] == FULL_ACCESS_AS_APP:
        return EWS_ROLE
    if permission["resource_app_id"] == GRAPH_RESOURCE_APP_ID and permission["mailbox_access"]:
        # The application roles carry the Graph permission's name (application-rbac, roles table).
        return "Application " + permission["permission"].replace(".All", "")
    return None


def flag_moot(entra, assignments):
    """Mark each Entra permission that reaches every mailbox where the app also holds a scoped role of the same access."""
    for permission in entra["permissions"]:
        role = rbac_equivalent(permission)
        scoped = [row["name"] for row in assignments if role and str(row["role"]).lower() == role.lower()
                  and row["scope_type"] != "organization"]
        permission["makes_scoped_rbac_moot"] = sorted(scoped)


# -- a legacy trustee's FullAccess ----------------------------------------------------------


def fullaccess_counts(client, trustee, mailboxes, verified, max_concurrency, limit):
    """On how many mailboxes the trustee holds FullAccess (GrantEngine in check mode: reads only)."""
    runner = BatchRunner(client, max_concurrency=max_concurrency)
    # check_mode: nothing is ever written; replication_wait 0: a mailbox not found is reported at once.
    engine = GrantEngine(runner, trustee, state="present", check_mode=True, replication_wait=0, verified=verified)
    report = engine.run(mailboxes)
    if runner.aborted is not None:
        raise AccessInfoError("the FullAccess read stopped: %s" % explain_error(runner.aborted))
    missing = sorted(report.changed, key=str.lower)
    shown, truncated = limited(missing, limit)
    return {"trustee": trustee.upn, "selected": len(mailboxes), "with_fullaccess": report.unchanged,
            "verified_from_state": report.from_state, "without_fullaccess_count": len(missing),
            "without_fullaccess": shown, "truncated": truncated, "failed": report.failed}


# -- verdicts -------------------------------------------------------------------------------


def _verdict(reasons, notes, status=None):
    return {"status": status or (STATUS_NOT_READY if reasons else STATUS_ENDS), "reasons": reasons, "notes": notes}


def ews_reasons(ews, mailboxes, on):
    """Why EWS itself is closed to the app: the date, the organisation's policy, mailboxes switched off."""
    reasons = []
    if on >= EWS_END:
        reasons.append("EWS in Exchange Online was switched off on 1 April 2027.")
    if not ews["allowed"]:
        reasons.append(ews["meaning"])
    if mailboxes and mailboxes["ews_disabled_count"]:
        reasons.append("%d of %d mailboxes in scope have their own EwsEnabled false (o365_ews_access fix_mailboxes "
                       "turns it on)." % (mailboxes["ews_disabled_count"], mailboxes["selected"]))
    return reasons


def app_verdicts(app, mailboxes, on):
    """The app_rbac and app_tenant_wide verdicts of one app's report."""
    gate = ews_reasons(app["ews"], mailboxes, on)
    entra = app["entra"]
    tenant_wide = entra["read"] and any(
        row["resource_app_id"] == EXCHANGE_RESOURCE_APP_ID and row["permission"] == FULL_ACCESS_AS_APP
        for row in entra["permissions"])

    reasons, notes = list(gate), []
    ews_rows = [row for row in app["assignments"] if str(row["role"]).lower() == EWS_ROLE.lower()]
    if app["service_principal"] is None:
        reasons.append("the app has no service principal pointer in Exchange Online (New-ServicePrincipal; "
                       "o365_app_mailbox_access).")
    elif not ews_rows:
        reasons.append("the app holds no %s role assignment." % EWS_ROLE)
    for row in ews_rows:
        if row.get("scope_missing"):
            reasons.append("role assignment %s names management scope %s, which does not exist."
                           % (row["name"], row["scope"]))
    for test in app["authorization_tests"]:
        if str(test["role"]).lower() == EWS_ROLE.lower() and test["in_scope"] is not True:
            reasons.append("Test-ServicePrincipalAuthorization: %s is not in scope of %s (InScope %s)."
                           % (test["mailbox"], EWS_ROLE, test["in_scope"]))
    untested = [mailbox for mailbox in app["tested_mailboxes"]
                if not any(test["mailbox"] == mailbox and str(test["role"]).lower() == EWS_ROLE.lower()
                           for test in app["authorization_tests"])]
    if ews_rows and untested:
        reasons.append("Test-ServicePrincipalAuthorization shows no %s row for %s." % (EWS_ROLE, ", ".join(untested)))
    if tenant_wide:
        notes.append("the app also holds full_access_as_app in Entra ID, which reaches every mailbox: the RBAC scope "
                     "protects nothing (grants add up).")
    elif not entra["read"]:
        notes.append("Entra permissions were not read (no graph_access_token): a tenant-wide full_access_as_app would "
                     "make the RBAC scope moot.")
    rbac = _verdict(reasons, notes)

    if not entra["read"]:
        wide = _verdict(["Entra permissions were not read: give graph_access_token (Application.Read.All)."], [],
                        STATUS_UNKNOWN)
    else:
        reasons = list(gate)
        if not tenant_wide:
            reasons.append("the app does not hold full_access_as_app (Office 365 Exchange Online, application "
                           "permission) in Entra ID.")
        wide = _verdict(reasons, [])
    return {"app_rbac": rbac, "app_tenant_wide": wide}


def fullaccess_verdict(fullaccess, on):
    """The legacy path: FullAccess grants for a trustee that signs in with its password."""
    reasons = ["a legacy MSE signs in to EWS with the mailbox password (Basic authentication), which Exchange Online "
               "has refused since 1 October 2022: the grants alone do not make this path work; move the engine to OAuth."]
    if on >= EWS_END:
        reasons.append("EWS in Exchange Online was switched off on 1 April 2027.")
    if fullaccess["without_fullaccess_count"]:
        reasons.append("%s lacks FullAccess on %d of %d mailboxes in scope." % (
            fullaccess["trustee"], fullaccess["without_fullaccess_count"], fullaccess["selected"]))
    if fullaccess["failed"]:
        reasons.append("%d mailboxes could not be read." % len(fullaccess["failed"]))
    return _verdict(reasons, [])
