# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App-only tokens for the Exchange Online admin API, acquired by MSAL.

No OAuth or JWT code of our own: MSAL builds the client assertion, caches tokens and
renews them. We only choose the authority and scope for the cloud, give MSAL an HTTP
client that honours ``validate_certs`` / ``ca_path`` on every request, and turn Entra
ID's AADSTS errors into messages that say what to fix.
"""

from __future__ import annotations

import os
import threading
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

try:
    import requests
except ImportError:
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    REQUESTS_IMPORT_ERROR = None

try:
    import msal
except ImportError:
    msal = None
    MSAL_IMPORT_ERROR = traceback.format_exc()
else:
    MSAL_IMPORT_ERROR = None


class AuthError(ConfigurationError):
    """Getting a token failed; the message names the cause and the fix."""


# cloud name -> (Entra ID authority host, Exchange Online base URL)
CLOUDS = {
    "commercial": ("https://login.microsoftonline.com", "https://outlook.office365.com"),
    "gcc_high": ("https://login.microsoftonline.us", "https://outlook.office365.us"),
    "dod": ("https://login.microsoftonline.us", "https://outlook-dod.office365.us"),
    "china": ("https://login.partner.microsoftonline.cn", "https://outlook.office365.cn"),
}

# Shared by every module that talks to Exchange Online; documented in the
# mimecast_mse.sync_engine.exo_auth doc fragment. The env fallbacks are the names AWX/AAP's
# "Microsoft Azure Resource Manager" credential injects.
AUTH_ARGUMENT_SPEC = dict(
    tenant=dict(type="str", required=True, fallback=(env_fallback, ["AZURE_TENANT"])),
    client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
    client_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_SECRET"])),
    certificate_path=dict(type="path", fallback=(env_fallback, ["AZURE_CERTIFICATE_PATH"])),
    certificate_password=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_CERTIFICATE_PASSWORD"])),
    access_token=dict(type="str", no_log=True),
    cloud=dict(type="str", default="commercial", choices=["commercial", "gcc_high", "dod", "china"]),
    login_url=dict(type="str"),
    exchange_url=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=60),
)
AUTH_MUTUALLY_EXCLUSIVE = [("client_secret", "certificate_path", "access_token")]
AUTH_REQUIRED_ONE_OF = [("client_secret", "certificate_path", "access_token")]


def check_auth_params(params):
    """Problems with the auth options that the argument spec cannot express."""
    if not params.get("access_token") and not params.get("client_id"):
        raise AuthError("client_id is required with client_secret or certificate_path (or set AZURE_CLIENT_ID): "
                        "it is the Application (client) ID of the app registration")
    if params.get("ca_path") and not os.path.isfile(params["ca_path"]):
        raise AuthError("ca_path %s does not exist or is not a file" % params["ca_path"])
    if params.get("timeout") is not None and params["timeout"] <= 0:
        raise AuthError("timeout must be a positive number of seconds")


def tls_verify(params):
    """What requests needs for ``verify=``: False, a CA bundle path, or True."""
    if not params.get("validate_certs", True):
        return False
    return params.get("ca_path") or True


# AADSTS code -> what the admin should do about it.
AADSTS_FIXES = {
    "7000215": "the client secret is wrong or expired: create a new secret in the app registration "
               "and pass it as client_secret (or AZURE_SECRET)",
    "7000222": "the client secret has expired: create a new secret in the app registration",
    "700016": "no application with this client_id exists in the tenant: check client_id and tenant, "
              "and that an administrator consented to the app in this tenant",
    "90002": "the tenant was not found: check the tenant option (tenant GUID or name.onmicrosoft.com) "
             "and the cloud",
    "900023": "the tenant is not a valid tenant ID or domain: check the tenant option",
    "700027": "Entra ID did not accept the certificate: upload this certificate's public key "
              "(.cer) under Certificates & secrets of the app registration",
    "700024": "the client assertion is not within its valid time range: check the clock of the control node",
    "7000112": "the application is disabled in the tenant",
}


class VerifiedHttpClient:
    """The HTTP client MSAL uses: every call carries our TLS and timeout settings.

    requests lets REQUESTS_CA_BUNDLE override a Session's own ``verify``; passing
    ``verify=`` per request is the only way ``ca_path`` is really used.
    """

    def __init__(self, session, verify, timeout):
        self._session = session
        self._verify = verify
        self._timeout = timeout

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        """POST as MSAL asks, with our verify and timeout."""
        kwargs.pop("verify", None)
        kwargs.setdefault("timeout", self._timeout)
        return self._session.post(url, params=params, data=data, headers=headers, verify=self._verify, **kwargs)

    def get(self, url, params=None, headers=None, **kwargs):
        """GET as MSAL asks, with our verify and timeout."""
        kwargs.pop("verify", None)
        kwargs.setdefault("timeout", self._timeout)
        return self._session.get(url, params=params, headers=headers, verify=self._verify, **kwargs)

    def close(self):
        """MSAL may call close(); the session is shared and closed by its owner."""


def resolve_endpoints(cloud, login_url=None, exchange_url=None):
    """Return (login_url, exchange_url, custom_login) for a cloud and optional overrides."""
    default_login, default_exchange = CLOUDS[cloud]
    login = (login_url or default_login).rstrip("/")
    exchange = (exchange_url or default_exchange).rstrip("/")
    for name, url in (("login_url", login), ("exchange_url", exchange)):
        if not url.lower().startswith("https://"):
            raise AuthError("%s must be an https:// URL (Entra ID and Exchange Online only speak HTTPS), got %r" % (name, url))
    return login, exchange, bool(login_url)


def explain_token_error(result, client_id, tenant):
    """Turn MSAL's error dict into one sentence with the AADSTS code and the fix."""
    codes = [str(code) for code in result.get("error_codes") or []]
    description = (result.get("error_description") or result.get("error") or "unknown error").splitlines()[0]
    fixes = [AADSTS_FIXES[code] for code in codes if code in AADSTS_FIXES]
    fix = fixes[0] if fixes else "check tenant, client_id and the credential"
    return "Could not get a token for client_id %s in tenant %s: %s. Fix: %s." % (client_id, tenant, description, fix)


def certificate_credential(certificate_path, certificate_password=None):
    """MSAL client_credential for a PEM (key + certificate) or PFX/PKCS#12 file."""
    if not os.path.isfile(certificate_path):
        raise AuthError("certificate_path %s does not exist or is not a file" % certificate_path)
    if certificate_path.lower().endswith((".pfx", ".p12")):
        credential = {"private_key_pfx_path": certificate_path}
    else:
        with open(certificate_path, encoding="utf-8") as handle:
            pem = handle.read()
        if "PRIVATE KEY" not in pem or "BEGIN CERTIFICATE" not in pem:
            raise AuthError("certificate_path %s must hold both the private key and the certificate in PEM, "
                            "or be a .pfx/.p12 file" % certificate_path)
        credential = {"private_key": pem, "public_certificate": pem}
    if certificate_password:
        credential["passphrase"] = certificate_password
    return credential


class MsalTokenProvider:
    """Tokens for the Exchange scope from MSAL's client-credentials flow (thread-safe)."""

    def __init__(self, tenant, client_id, credential, login_url, scope, http_client, custom_login):
        self.tenant = tenant
        self.client_id = client_id
        self.scope = scope
        self.renewals = 0
        self._lock = threading.Lock()
        self._current = None
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority="%s/%s" % (login_url, tenant),
                http_client=http_client,
                # A custom login_url is not a host MSAL knows; without this it would ask
                # login.microsoftonline.com to vouch for it first.
                instance_discovery=False if custom_login else None,
            )
        except ValueError as exc:
            # MSAL reads the tenant's OpenID configuration here; an unknown tenant or an
            # unreadable certificate surfaces as ValueError.
            raise AuthError("Could not set up authentication for tenant %s at %s: %s. Fix: check the tenant option "
                            "(GUID or name.onmicrosoft.com), cloud/login_url, and the certificate file."
                            % (tenant, login_url, str(exc).splitlines()[0]))
        except requests.exceptions.RequestException as exc:
            raise AuthError("Could not reach the Entra ID endpoint %s: %s" % (login_url, exc.__class__.__name__))

    def get(self):
        """Return a valid access token, from MSAL's cache when it has one."""
        with self._lock:
            try:
                result = self._app.acquire_token_for_client(scopes=[self.scope])
            except requests.exceptions.RequestException as exc:
                raise AuthError("Could not reach the Entra ID token endpoint for tenant %s: %s" % (self.tenant, exc.__class__.__name__))
            if "access_token" not in result:
                raise AuthError(explain_token_error(result, self.client_id, self.tenant))
            self._current = result["access_token"]
            return self._current

    def invalidate(self, rejected_token):
        """Forget a token the API rejected (expired or revoked) so the next get() renews it."""
        with self._lock:
            # Many batches in flight see the same 401; only the first one renews.
            if rejected_token == self._current:
                self._app.remove_tokens_for_client()
                self._current = None
                self.renewals += 1


class StaticTokenProvider:
    """A token the caller obtained elsewhere (``access_token``); it cannot be renewed."""

    renewals = 0

    def __init__(self, token):
        self._token = token

    def get(self):
        """Return the given token."""
        return self._token

    def invalidate(self, rejected_token):
        """The API refused the given token: nothing can renew it."""
        del rejected_token
        raise AuthError("Exchange Online rejected the given access_token (expired or revoked). Fix: pass a fresh "
                        "token, or pass client_secret or certificate_path so the module can renew tokens itself.")


def build_token_provider(params, login_url, exchange_url, custom_login, http_client):
    """Choose the token provider from the module parameters."""
    if params.get("access_token"):
        return StaticTokenProvider(params["access_token"])
    if params.get("certificate_path"):
        credential = certificate_credential(params["certificate_path"], params.get("certificate_password"))
    else:
        credential = params["client_secret"]
    return MsalTokenProvider(
        tenant=params["tenant"],
        client_id=params["client_id"],
        credential=credential,
        login_url=login_url,
        scope=exchange_url + "/.default",
        http_client=http_client,
        custom_login=custom_login,
    )
