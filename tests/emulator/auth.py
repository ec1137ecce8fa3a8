"""Entra ID stand-in: app registrations, the client-credentials token endpoint,
OpenID discovery and validation of the access tokens it issued."""
from __future__ import annotations

import base64
import datetime
import hmac
import itertools
import threading
import time
import uuid

import jwt
from cryptography.hazmat.primitives import hashes
from jwt.algorithms import RSAAlgorithm

from . import EXCHANGE_RESOURCE, pki

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_RESOURCE = "https://graph.microsoft.com"
EXCHANGE_ROLE = "Exchange.ManageAsApp"


class AuthError(Exception):
    """An AADSTS error answer."""

    def __init__(self, status, error, code, text):
        super().__init__(text)
        self.status = status
        self.error = error
        self.code = code
        self.text = text

    def body(self):
        """The Entra-style JSON error body."""
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        description = "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
            self.code, self.text, trace, correlation, stamp)
        return {"error": self.error, "error_description": description, "error_codes": [self.code], "timestamp": stamp,
                "trace_id": trace, "correlation_id": correlation, "error_uri": "https://login.microsoftonline.com/error?code=%d"
                % self.code}


class TokenRejected(Exception):
    """An access token the API does not accept (-> 401)."""


class App:
    """A registered application (service principal in the tenant)."""

    def __init__(self, client_id, name, secret=None, cert=None, roles=(EXCHANGE_ROLE,), exchange_role="full"):
        self.client_id = client_id
        self.name = name
        self.secret = secret
        self.cert = cert
        self.roles = list(roles)
        self.exchange_role = exchange_role  # "full", "read" (Get-* only) or None (no Exchange role)
        self.object_id = str(uuid.uuid4())


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Authority:
    """Apps, signing key, issued tokens and their revocation."""

    def __init__(self, tenant_id, tenant_domain, state_dir, custom_domains=()):
        self.tenant_id = tenant_id
        self.tenant_domain = tenant_domain
        self.custom_domains = tuple(custom_domains)
        self.base_url = ""
        self.token_lifetime = 3599
        self.lock = threading.Lock()
        self._sequence = itertools.count(1)
        self.last_issued = 0
        self.revoked_up_to = 0
        self._valid = {}
        self._expires = {}  # uti -> exact expiry (the exp claim is whole seconds; short lifetimes need better)
        self.signing_key, self.signing_cert = pki.make_self_signed("emulator token signing")
        self.kid = _b64url(self.signing_cert.fingerprint(hashes.SHA1()))  # nosec - a key id
        self.signing_pem = pki.key_pem(self.signing_key)
        cert_key, cert = pki.make_self_signed("mse-sync-engine-app")
        self.app_cert = cert
        self.app_cert_key = cert_key
        self.pfx_password = "emulator-" + uuid.uuid4().hex[:8]
        self.apps = {}
        for name, secret, has_cert, roles, role in (("secret", True, False, (EXCHANGE_ROLE,), "full"),
                                                    ("certificate", False, True, (EXCHANGE_ROLE,), "full"),
                                                    ("no_role", True, False, (EXCHANGE_ROLE,), None),
                                                    ("no_consent", True, False, (), "full"),
                                                    ("read_only", True, False, (EXCHANGE_ROLE,), "read")):
            client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator-app-%s-%s" % (tenant_id, name)))
            app = App(client_id, name, secret="emu~" + uuid.uuid4().hex + uuid.uuid4().hex[:8] if secret else None,
                      cert=cert if has_cert else None, roles=roles, exchange_role=role)
            self.apps[client_id] = app
        self.state_dir = state_dir

    def app(self, name):
        """The App registered under a name (secret, certificate, no_role, no_consent, read_only)."""
        return next(app for app in self.apps.values() if app.name == name)

    def tenant_matches(self, tenant):
        """True when a login path segment names this tenant: its GUID or any verified domain."""
        return tenant.lower() in (self.tenant_id, self.tenant_domain.lower()) + tuple(
            domain.lower() for domain in self.custom_domains)

    # -- discovery ------------------------------------------------------------------

    def openid_configuration(self, login_url, tenant):
        """The v2.0 OpenID configuration document."""
        if not self.tenant_matches(tenant):
            raise AuthError(400, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have the correct "
                            "tenant ID and are signing into the correct cloud." % tenant)
        root = "%s/%s" % (login_url, self.tenant_id)
        return {
            "token_endpoint": root + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": root + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": root + "/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": login_url + "/oidc/userinfo",
            "authorization_endpoint": root + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": root + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": root + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "roles"],
            "kerberos_endpoint": root + "/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def jwks(self):
        """The key set that verifies issued tokens."""
        jwk = RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "x5t": self.kid,
                    "x5c": [base64.b64encode(pki.cert_der(self.signing_cert)).decode()], "issuer":
                    "https://login.microsoftonline.com/%s/v2.0" % self.tenant_id})
        return {"keys": [jwk]}

    # -- token endpoint ---------------------------------------------------------------

    def token(self, login_url, tenant, form, request_url):
        """Answer a token request (form: dict of str); returns the JSON body or raises AuthError."""
        if not self.tenant_matches(tenant):
            raise AuthError(400, "invalid_request", 90002, "Tenant '%s' not found. Check to make sure you have the correct "
                            "tenant ID and are signing into the correct cloud." % tenant)
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise AuthError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'."
                            % grant)
        client_id = form.get("client_id", "")
        assertion = form.get("client_assertion")
        if not client_id and assertion:
            try:
                client_id = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
            except jwt.PyJWTError:
                client_id = ""
        app = self.apps.get(client_id.lower())
        if app is None:
            raise AuthError(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the "
                            "directory '%s'. This can happen if the application has not been installed by the administrator "
                            "of the tenant or consented to by any user in the tenant. You may have sent your authentication "
                            "request to the wrong tenant." % (client_id, self.tenant_domain))
        if assertion:
            self._check_assertion(app, form, login_url, tenant, request_url)
        elif "client_secret" in form:
            if not app.secret or not hmac.compare_digest(form["client_secret"], app.secret):
                raise AuthError(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being "
                                "sent in the request is the client secret value, not the client secret ID, for a secret "
                                "added to app '%s'." % app.client_id)
        else:
            raise AuthError(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
                            "'client_assertion' or 'client_secret'.")
        resource = self._resource(form.get("scope", ""))
        return self.issue(app, resource, appidacr="2" if assertion else "1")

    def _resource(self, scope):
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise AuthError(400, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client "
                            "credential flows must have a scope value with /.default suffixed to the resource identifier "
                            "(application ID URI)." % scope)
        resource = scopes[0][:-len("/.default")]
        known = {EXCHANGE_RESOURCE, GRAPH_RESOURCE, self.base_url, "00000002-0000-0ff1-ce00-000000000000"}
        if resource.rstrip("/") not in known:
            raise AuthError(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant "
                            "named %s. This can happen if the application has not been installed by the administrator of "
                            "the tenant or consented to by any user in the tenant. You might have sent your authentication "
                            "request to the wrong tenant." % (resource, self.tenant_domain))
        if resource == "00000002-0000-0ff1-ce00-000000000000":
            return EXCHANGE_RESOURCE
        return resource.rstrip("/")

    def _check_assertion(self, app, form, login_url, tenant, request_url):
        def bad(reason):
            return AuthError(401, "invalid_client", 700027, "Client assertion failed signature validation or is invalid. "
                             "%s" % reason)

        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AuthError(400, "invalid_request", 50027, "Invalid JWT token. client_assertion_type must be '%s'."
                            % ASSERTION_TYPE)
        if app.cert is None:
            raise bad("No certificate is registered for application '%s'." % app.client_id)
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise bad("The assertion is not a JWT: %s." % exc) from exc
        x5t = _b64url(app.cert.fingerprint(hashes.SHA1()))  # nosec - certificate thumbprint
        x5t256 = _b64url(app.cert.fingerprint(hashes.SHA256()))
        if str(header.get("x5t", "")).rstrip("=") != x5t and str(header.get("x5t#S256", "")).rstrip("=") != x5t256:
            raise bad("The thumbprint in the assertion's x5t header does not match a certificate registered for "
                      "application '%s'." % app.client_id)
        audiences = ["%s/%s/oauth2/v2.0/token" % (login_url, name)
                     for name in (self.tenant_id, self.tenant_domain, tenant) + self.custom_domains]
        audiences.append(request_url)
        try:
            claims = jwt.decode(assertion, app.cert.public_key(), algorithms=["RS256", "PS256"], audience=audiences,
                                options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.PyJWTError as exc:
            raise bad("%s." % exc) from exc
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise bad("The iss and sub claims must both be the client id '%s'." % app.client_id)

    def issue(self, app, resource, appidacr="1"):
        """Sign an access token for an app; returns the token response body."""
        issued = time.time()
        now = int(issued)
        lifetime = int(self.token_lifetime)
        with self.lock:
            sequence = next(self._sequence)
            self.last_issued = sequence
        claims = {
            "aud": resource,
            "iss": "https://sts.windows.net/%s/" % self.tenant_id,
            "iat": now, "nbf": now, "exp": now + lifetime,
            "aio": _b64url(uuid.uuid4().bytes),
            "app_displayname": "mse-sync-engine-%s" % app.name,
            "appid": app.client_id,
            "appidacr": appidacr,
            "idp": "https://sts.windows.net/%s/" % self.tenant_id,
            "idtyp": "app",
            "oid": app.object_id,
            "rh": "0.emulator.",
            "sub": app.object_id,
            "tid": self.tenant_id,
            "uti": _b64url(uuid.uuid4().bytes)[:22],
            "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
            "xms_emu_seq": sequence,
        }
        if app.roles:
            claims["roles"] = list(app.roles)
        token = jwt.encode(claims, self.signing_pem, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        with self.lock:
            if len(self._expires) > 100000:
                self._expires.clear()
            self._expires[claims["uti"]] = issued + lifetime
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    # -- validation --------------------------------------------------------------------

    def revoke_all(self):
        """Every token issued so far becomes invalid."""
        with self.lock:
            self.revoked_up_to = self.last_issued

    def reset(self, token_lifetime):
        """Forget revocations; set the token lifetime."""
        with self.lock:
            self.revoked_up_to = 0
        self.token_lifetime = token_lifetime

    def validate(self, authorization):
        """(App, claims) for a Bearer header value of a token of this tenant; raises TokenRejected."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise TokenRejected("The access token is missing")
        token = authorization[7:].strip()
        claims = self._valid.get(token)
        if claims is None:
            try:
                claims = jwt.decode(token, self.signing_key.public_key(), algorithms=["RS256"],
                                    options={"verify_aud": False, "verify_exp": False})
            except jwt.PyJWTError as exc:
                raise TokenRejected("The access token is invalid: %s" % exc) from exc
            if len(self._valid) > 10000:
                self._valid.clear()
            self._valid[token] = claims
        if self._expires.get(claims.get("uti"), claims["exp"]) <= time.time():
            raise TokenRejected("The access token has expired")
        if claims.get("xms_emu_seq", 0) <= self.revoked_up_to:
            raise TokenRejected("The access token has been revoked")
        if claims.get("aud", "").rstrip("/") not in (EXCHANGE_RESOURCE, self.base_url):
            raise TokenRejected("The audience '%s' is invalid" % claims.get("aud"))
        if claims.get("tid") != self.tenant_id:
            raise TokenRejected("The token was issued for another tenant")
        app = self.apps.get(claims.get("appid", ""))
        if app is None:
            raise TokenRejected("The application is unknown")
        return app, claims
