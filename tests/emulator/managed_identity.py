"""Azure managed identity endpoint, App Service flavour, for MSAL's ManagedIdentityClient.

With ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set, MSAL Python asks
``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=C]`` with the header
``X-IDENTITY-HEADER: {IDENTITY_HEADER}`` and reads ``access_token`` and ``expires_on``
(msal/managed_identity.py, ``_obtain_token_on_app_service``). Tokens come from the same
Authority as the client-credentials ones, so the Exchange endpoints accept them.
"""
from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from . import EXCHANGE_RESOURCE
from .auth import EXCHANGE_ROLE, GRAPH_RESOURCE, App

PATH = "/msi/token"
API_VERSION = "2019-08-01"
NOT_FOUND = "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."


class ManagedIdentityEndpoint:
    """A system-assigned and one user-assigned identity, both with Exchange.ManageAsApp and a role."""

    def __init__(self, engine, base_url):
        self.engine = engine
        self.base_url = base_url
        authority = engine.authority
        self.header = uuid.uuid4().hex
        self.identities = {}
        for kind in ("system", "user_assigned"):
            client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator-managed-identity-%s-%s" % (authority.tenant_id, kind)))
            app = App(client_id, "managed_identity_" + kind, roles=(EXCHANGE_ROLE,), exchange_role=True)
            authority.apps[client_id] = app
            self.identities[kind] = app

    def describe(self):
        """The ``managed_identity`` entry of emulator.json."""
        return {"endpoint": self.base_url + PATH, "header": self.header, "api_version": API_VERSION,
                "system_client_id": self.identities["system"].client_id,
                "user_assigned_client_id": self.identities["user_assigned"].client_id}

    def matches(self, method, path):
        """True for a request this endpoint answers."""
        return method == "GET" and urlsplit(path).path.rstrip("/").lower() == PATH

    def answer(self, headers, query):
        """(status, headers, body) for one token request."""
        status, body = self._token(headers, {key: values[0] for key, values in query.items()})
        self.engine.stats.outer("managed_identity", status)
        self.engine.stats.count(**({"tokens_issued": 1} if status == 200 else {"token_errors": 1}))
        return status, {"Cache-Control": "no-store"}, body

    def _token(self, headers, query):
        if headers.get("X-IDENTITY-HEADER") != self.header:
            return 401, _error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        if query.get("api-version") != API_VERSION:
            return 400, _error(400, "The api-version %r is not supported; use %s." % (query.get("api-version"), API_VERSION))
        if set(query) & {"mi_res_id", "object_id", "principal_id"}:
            return 400, _error(400, NOT_FOUND)
        client_id = query.get("client_id")
        if client_id is None:
            app = self.identities["system"]
        elif client_id.lower() == self.identities["user_assigned"].client_id:
            app = self.identities["user_assigned"]
        else:
            return 400, _error(400, NOT_FOUND)
        resource = (query.get("resource") or "").rstrip("/")
        if resource.endswith("/.default"):
            resource = resource[:-len("/.default")]
        if resource not in (EXCHANGE_RESOURCE, GRAPH_RESOURCE, self.base_url):
            # MSAL notes that App Service answers an unknown resource with a vague 500.
            return 500, _error(500, "An unexpected error occurred while fetching the AAD token.")
        issued = self.engine.authority.issue(app, resource, appidacr="2")
        return 200, {"access_token": issued["access_token"], "expires_on": str(int(time.time()) + int(issued["expires_in"])),
                     "resource": resource, "token_type": "Bearer", "client_id": app.client_id}


def _error(status, message):
    return {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
