"""Microsoft Graph, the few read endpoints o365_app_access_info uses: an app's service principal and the
application permissions (app role assignments) it holds. See README.md, "Microsoft Graph (graph.py)".

- ``GET /v1.0/servicePrincipals?$filter=appId eq '{appId}'``: a collection, ``{"value": [...]}``,
  empty for an unknown app (learn.microsoft.com/graph/api/serviceprincipal-list, "$filter").
- ``GET /v1.0/servicePrincipals/{id}``: one service principal with its ``appRoles``
  (learn.microsoft.com/graph/api/serviceprincipal-get; resource servicePrincipal, "appRoles").
- ``GET /v1.0/servicePrincipals/{id}/appRoleAssignments``: the app roles (application
  permissions) granted to it, paged with ``@odata.nextLink``
  (learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments).

Each needs the application permission Application.Read.All (or a higher one the pages name); the
caller's token must be for Microsoft Graph. State per tenant in ``Tenant.extensions["graph"]``, so a
tenant reset re-seeds it; ``POST /_emulator/graph`` sets which permissions an app holds.
"""
from __future__ import annotations

import datetime
import re
import uuid
from urllib.parse import unquote

import jwt

from . import org as org_module
from .auth import GRAPH_RESOURCE

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# The application permissions each resource offers (a subset; the names are those of the permissions reference).
RESOURCES = {
    "exchange": (EXCHANGE_APP_ID, "Office 365 Exchange Online",
                 ("full_access_as_app", "Exchange.ManageAsApp", "Mail.Read", "Mail.ReadWrite", "Calendars.ReadWrite")),
    "graph": (GRAPH_APP_ID, "Microsoft Graph",
              ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Mail.Read", "Mail.ReadBasic",
               "Mail.ReadWrite", "Mail.Send", "Calendars.Read", "Calendars.ReadWrite", "Contacts.Read",
               "MailboxSettings.Read", "MailboxSettings.ReadWrite", "MailboxItem.Read.All", "MailboxItem.ImportExport.All",
               "MailboxFolder.Read.All", "User.Read.All")),
}
# Permissions that let a caller read service principals and their app role assignments.
READ_PERMISSIONS = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")
DEFAULT_PAGE_SIZE = 100
# Misbehaviours a test can ask for (POST /_emulator/graph {"fault": ...}); each applies to the next answers until cleared.
FAULTS = ("redirect", "foreign_next_link", "value_not_list", "throttle_once")
FILTER_RE = re.compile(r"^\s*appId\s+eq\s+'([0-9a-fA-F-]{36})'\s*$")


def _guid(tenant, *parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator-graph-%s-%s" % (tenant.seed, "-".join(parts))))


def _error(status, code, message):
    """A Graph error body: {"error": {"code", "message", "innerError"}}."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return status, {"error": {"code": code, "message": message,
                              "innerError": {"date": now, "request-id": str(uuid.uuid4()),
                                             "client-request-id": str(uuid.uuid4())}}}


class Principal:
    """A service principal in the Entra directory, as Graph shows it."""

    def __init__(self, object_id, app_id, display_name, app_roles=()):
        self.object_id = object_id
        self.app_id = app_id
        self.display_name = display_name
        self.app_roles = list(app_roles)  # [{"id", "value", ...}] for a resource

    def record(self):
        """The servicePrincipal resource (the properties the module reads, and a few more)."""
        return {"id": self.object_id, "appId": self.app_id, "displayName": self.display_name,
                "servicePrincipalType": "Application", "accountEnabled": True, "appRoles": self.app_roles}


class GraphState:
    """The directory's service principals and the application permissions granted to them."""

    def __init__(self, engine):
        tenant = self.tenant = engine.tenant
        self.page_size = DEFAULT_PAGE_SIZE
        self.fault = None
        self.principals = {}
        self.resources = {}
        for key, (app_id, name, permissions) in RESOURCES.items():
            roles = [{"id": _guid(tenant, key, permission), "value": permission, "displayName": permission,
                      "allowedMemberTypes": ["Application"], "isEnabled": True, "origin": "Application",
                      "description": "%s (application permission of %s)" % (permission, name)}
                     for permission in permissions]
            principal = Principal(_guid(tenant, key, "sp"), app_id, name, roles)
            self.principals[principal.object_id] = principal
            self.resources[key] = principal
        # The Entra apps org.py knows (the MSE app, other apps), and the admin apps that sign in.
        for entra in org_module.state(tenant).entra.values():
            principal = Principal(entra.object_id, entra.app_id, entra.display_name)
            self.principals[principal.object_id] = principal
        for app in engine.authority.apps.values():
            principal = Principal(app.object_id, app.client_id, "mse-sync-engine-%s" % app.name)
            self.principals[principal.object_id] = principal
        # app id -> {(resource key, permission)}; seeded: another app holds full_access_as_app (tenant-wide), the
        # admin apps that sign in with a secret or certificate may read service principals.
        self.grants = {}
        backup = org_module.state(tenant).entra.get("backup")
        if backup is not None:
            self.grants[backup.app_id] = {("exchange", "full_access_as_app")}
        for name in ("secret", "certificate"):
            self.grants[engine.authority.app(name).client_id] = {("graph", "Application.Read.All")}

    def by_app_id(self, app_id):
        """The service principal of an app ID, or None."""
        return next((p for p in self.principals.values() if p.app_id.lower() == app_id.lower()), None)

    def assignments(self, principal):
        """The appRoleAssignment resources of a service principal, in a stable order."""
        rows = []
        for key, permission in sorted(self.grants.get(principal.app_id.lower(), ())):
            resource = self.resources[key]
            role = next(role for role in resource.app_roles if role["value"] == permission)
            rows.append({"id": _guid_text(principal.object_id, role["id"]), "appRoleId": role["id"],
                         "principalId": principal.object_id, "principalDisplayName": principal.display_name,
                         "principalType": "ServicePrincipal", "resourceId": resource.object_id,
                         "resourceDisplayName": resource.display_name, "createdDateTime": "2026-09-01T08:00:00Z",
                         "deletedDateTime": None})
        return rows

    def configure(self, body):
        """POST /_emulator/graph: {"permissions": {app id or org.py key: {"exchange": [...], "graph": [...]}},
        "page_size": n}."""
        unknown = sorted(set(body) - {"permissions", "page_size", "fault"})
        if unknown:
            raise ValueError("unknown graph keys: %s" % ", ".join(unknown))
        if "page_size" in body:
            size = int(body["page_size"])
            if not 1 <= size <= 999:
                raise ValueError("page_size must be 1 to 999")
            self.page_size = size
        if "fault" in body:
            if body["fault"] is not None and body["fault"] not in FAULTS:
                raise ValueError("fault must be null or one of %s" % ", ".join(FAULTS))
            self.fault = body["fault"]
        entra = {key: sp.app_id for key, sp in self._entra().items()}
        for app, held in (body.get("permissions") or {}).items():
            app_id = entra.get(app, str(app)).lower()
            if self.by_app_id(app_id) is None:
                raise ValueError("no service principal for app %r" % app)
            grants = set()
            for key, names in (held or {}).items():
                if key not in RESOURCES:
                    raise ValueError("resource must be one of %s" % ", ".join(RESOURCES))
                for name in names:
                    if name not in RESOURCES[key][2]:
                        raise ValueError("%s offers no application permission %r" % (key, name))
                    grants.add((key, name))
            self.grants[app_id] = grants
        return self.describe()

    def _entra(self):
        return org_module.state(self.tenant).entra

    def describe(self):
        """GET /_emulator/graph."""
        return {"page_size": self.page_size, "fault": self.fault,
                "resources": {key: {"app_id": p.app_id, "object_id": p.object_id, "display_name": p.display_name}
                              for key, p in self.resources.items()},
                "permissions": {app_id: sorted("%s:%s" % grant for grant in grants)
                                for app_id, grants in sorted(self.grants.items()) if grants}}


def _guid_text(*parts):
    # appRoleAssignment ids are opaque strings (base64-like in Graph); stable here.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "-".join(parts))).replace("-", "")


def state(engine):
    """The tenant's GraphState (seeded on first use, forgotten by a tenant reset)."""
    tenant = engine.tenant
    with tenant.lock:
        graph = tenant.extensions.get("graph")
        if graph is None:
            graph = tenant.extensions["graph"] = GraphState(engine)
        return graph


def control(engine, method, body):
    """GET or POST /_emulator/graph."""
    graph = state(engine)
    with engine.tenant.lock:
        if method == "POST":
            return graph.configure(body or {})
        if method == "GET":
            return graph.describe()
    raise ValueError("use GET or POST on /_emulator/graph")


class GraphEndpoint:
    """Answers GET /v1.0/... for the server (hooked like managed_identity.py)."""

    def __init__(self, engine):
        self.engine = engine

    @staticmethod
    def matches(method, path):
        """True for a request this endpoint answers."""
        del method
        return path.startswith("/v1.0/")

    def answer(self, method, headers, path, query):
        """(status, headers, body) for one Graph request."""
        graph = state(self.engine)
        fault = graph.fault
        if fault == "redirect":
            # Where a redirect would take the token: the sink records what arrives.
            self.engine.stats.outer("graph", 302)
            return 302, {"Location": self.engine.targets["sink_https"] + path}, None
        if fault == "throttle_once":
            graph.fault = None
            self.engine.stats.outer("graph", 429)
            return 429, {"Retry-After": "0"}, _error(429, "TooManyRequests", "Too many requests.")[1]
        status, body = self._answer(method, headers, path, query)
        if status == 200 and fault == "foreign_next_link" and isinstance(body, dict) and "value" in body:
            body["@odata.nextLink"] = self.engine.targets["sink_https"] + path + "?$skiptoken=1"
        if status == 200 and fault == "value_not_list" and isinstance(body, dict) and "value" in body:
            body["value"] = {"unexpected": True}
        self.engine.stats.outer("graph", status)
        return status, {"Cache-Control": "no-cache"}, body

    def _caller(self, authorization):
        """The app ID of a valid Graph token, or an error (status, body)."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None, _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        authority = self.engine.authority
        try:
            claims = jwt.decode(authorization[7:].strip(), authority.signing_key.public_key(), algorithms=["RS256"],
                                options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            return None, _error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        except jwt.PyJWTError:
            return None, _error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if str(claims.get("aud", "")).rstrip("/") not in (GRAPH_RESOURCE, GRAPH_APP_ID):
            return None, _error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if claims.get("tid") != authority.tenant_id or claims.get("xms_emu_seq", 0) <= authority.revoked_up_to:
            return None, _error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return str(claims.get("appid", "")).lower(), None

    def _answer(self, method, headers, path, query):
        if method != "GET":
            return _error(405, "Request_BadRequest", "Only GET is modelled by the emulator.")
        app_id, problem = self._caller(headers.get("Authorization"))
        if problem:
            return problem
        graph = state(self.engine)
        with self.engine.tenant.lock:
            held = {name for key, name in graph.grants.get(app_id, ()) if key == "graph"}
            if not held & set(READ_PERMISSIONS):
                return _error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            parts = [unquote(part) for part in path.split("?")[0].split("/") if part][1:]
            if parts == ["servicePrincipals"]:
                return self._list(graph, query)
            if len(parts) == 2 and parts[0] == "servicePrincipals":
                principal = graph.principals.get(parts[1].lower())
                if principal is None:
                    return self._missing(parts[1])
                return 200, dict(principal.record(), **{
                    "@odata.context": "%s/v1.0/$metadata#servicePrincipals/$entity" % self.engine.base_url})
            if len(parts) == 3 and parts[0] == "servicePrincipals" and parts[2] == "appRoleAssignments":
                principal = graph.principals.get(parts[1].lower())
                if principal is None:
                    return self._missing(parts[1])
                return self._page(graph, graph.assignments(principal), path.split("?")[0], query)
        return _error(400, "BadRequest", "Resource not found for the segment '%s'." % (parts[-1] if parts else ""))

    @staticmethod
    def _missing(identity):
        return _error(404, "Request_ResourceNotFound",
                      "Resource '%s' does not exist or one of its queried reference-property objects are not present."
                      % identity)

    def _list(self, graph, query):
        text = (query.get("$filter") or [""])[0]
        match = FILTER_RE.match(text)
        if not match:
            # Assumption: only the appId filter is modelled; Graph accepts more.
            return _error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for "
                                                           "property 'appId' of resource 'ServicePrincipal'.")
        principal = graph.by_app_id(match.group(1))
        rows = [principal.record()] if principal is not None else []
        return 200, {"@odata.context": "%s/v1.0/$metadata#servicePrincipals" % self.engine.base_url, "value": rows}

    def _page(self, graph, rows, path, query):
        try:
            start = int((query.get("$skiptoken") or ["0"])[0])
        except ValueError:
            return _error(400, "Request_BadRequest", "Invalid $skiptoken.")
        end = start + graph.page_size
        body = {"@odata.context": "%s/v1.0/$metadata#servicePrincipals('x')/appRoleAssignments" % self.engine.base_url,
                "value": rows[start:end]}
        if end < len(rows):
            body["@odata.nextLink"] = "%s%s?$skiptoken=%d" % (self.engine.base_url, path, end)
        return 200, body
