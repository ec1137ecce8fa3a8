# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App-only tokens for the Exchange Online admin API, acquired by MSAL.

No OAuth or JWT code of our own: MSAL builds the client assertion, caches tokens,
renews them and speaks to the managed-identity endpoints of Azure. We choose the
authority and scope for the cloud, check the inputs before anything is sent, give MSAL
an HTTP client that honours ``validate_certs`` / ``ca_path``, never follows a redirect
and bounds every answer in time, retry what is transient, and turn every failure into
one AuthError whose message says what to fix and never carries a secret.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import ssl
import threading
import time
import traceback
from urllib.parse import urljoin, urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_throttle import backoff_delay, parse_retry_after

try:
    import requests
    import urllib3
except ImportError:
    requests = urllib3 = None
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


def _cryptography():
    """cryptography's parts for certificate files, or None when it is missing.

    MSAL depends on cryptography; we use it to check a certificate file before MSAL reads it
    and to compute the thumbprint older MSAL versions need (see certificate_credential).
    Imported on first use: a secret or token login (most runs) is spared its ~70 ms import.
    """
    # pylint: disable=import-outside-toplevel
    try:
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
    except ImportError:
        return None
    return {"x509": x509, "UnsupportedAlgorithm": UnsupportedAlgorithm, "hashes": hashes,
            "load_pem_private_key": load_pem_private_key, "pkcs12": pkcs12}


def _version_tuple(text):
    """(1, 34, 0) for "1.34.0"; the leading numbers only."""
    numbers = []
    for part in str(text or "").split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


# MSAL computes a PEM certificate's thumbprint itself only from 1.35.0; before that a PEM
# credential without "thumbprint" fails inside MSAL. We give it one on those versions only,
# so a newer MSAL keeps its own choice (a SHA-256 thumbprint).
MSAL_COMPUTES_THUMBPRINT = msal is not None and _version_tuple(getattr(msal, "__version__", "")) >= (1, 35)


class AuthError(ConfigurationError):
    """Getting a token failed; the message names the cause and the fix.

    ``transient`` is True when the identity provider could not answer (no connection,
    a timeout, 5xx, 429, an answer that is not JSON) even after retries: running again
    later may work. False means something must be changed first.
    """

    def __init__(self, message, transient=False):
        super().__init__(message)
        self.transient = transient


# cloud name -> (Entra ID authority host, Exchange Online base URL)
CLOUDS = {
    "commercial": ("https://login.microsoftonline.com", "https://outlook.office365.com"),
    "gcc_high": ("https://login.microsoftonline.us", "https://outlook.office365.us"),
    "dod": ("https://login.microsoftonline.us", "https://outlook-dod.office365.us"),
    "china": ("https://login.partner.microsoftonline.cn", "https://outlook.office365.cn"),
}

# Shared by every module that talks to Exchange Online; documented in the
# mimecast_mse.sync_engine.exo_auth doc fragment. The environment variables are those of
# AWX/AAP's "Microsoft Azure Resource Manager" credential (AZURE_TENANT, AZURE_SECRET,
# AZURE_CLOUD_ENVIRONMENT) and those azure-identity's EnvironmentCredential reads
# (AZURE_TENANT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_*); AZURE_CERTIFICATE_* are
# this collection's older names. Option -> variables, read in this order.
ENVIRONMENT = {
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "client_id": ("AZURE_CLIENT_ID",),
    "client_secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "certificate_path": ("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CERTIFICATE_PATH"),
    "certificate_password": ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CERTIFICATE_PASSWORD"),
    "cloud": ("AZURE_CLOUD_ENVIRONMENT",),
}
# The credential options come from the environment only when the task sets none of them
# (apply_environment), never through env_fallback: a task's certificate_path must not
# collide with an AZURE_SECRET that AWX put in the environment. An option given in the task
# always wins over the environment, as in azure.azcollection.
AUTH_ARGUMENT_SPEC = dict(
    tenant=dict(type="str", required=True, fallback=(env_fallback, list(ENVIRONMENT["tenant"]))),
    client_id=dict(type="str", fallback=(env_fallback, list(ENVIRONMENT["client_id"]))),
    # "secret", as azure.azcollection names it.
    client_secret=dict(type="str", no_log=True, aliases=["secret"]),
    certificate_path=dict(type="path"),
    certificate_password=dict(type="str", no_log=True, fallback=(env_fallback, list(ENVIRONMENT["certificate_password"]))),
    access_token=dict(type="str", no_log=True),
    managed_identity=dict(type="str"),
    cloud=dict(type="str", choices=["commercial", "gcc_high", "dod", "china"]),
    login_url=dict(type="str"),
    exchange_url=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=60),
)
CREDENTIAL_OPTIONS = ("client_secret", "certificate_path", "access_token", "managed_identity")
AUTH_MUTUALLY_EXCLUSIVE = [CREDENTIAL_OPTIONS]
# AZURE_CLOUD_ENVIRONMENT's names (azure.azcollection's, the Azure CLI's) -> cloud. US Government
# is GCC High; a DoD tenant sets cloud: dod.
CLOUD_NAMES = {"azurecloud": "commercial", "azureusgovernment": "gcc_high", "azurechinacloud": "china"}
DEFAULT_CLOUD = "commercial"


def _from_environment(option, environ):
    """The first non-empty environment variable of an option, as (name, value), or (None, None)."""
    for name in ENVIRONMENT[option]:
        if environ.get(name):
            return name, environ[name]
    return None, None


def apply_environment(params, environ=None):
    """Fill the credential and cloud options the task left unset from the environment.

    A credential comes from the environment only when the task names none: a client secret
    (AZURE_SECRET, AZURE_CLIENT_SECRET) before a certificate (AZURE_CLIENT_CERTIFICATE_PATH),
    as azure-identity reads them. Returns the secret values read, for the caller to mask like
    no_log options. Raises AuthError when no credential is given anywhere or the cloud name
    is unknown.
    """
    environ = os.environ if environ is None else environ
    secrets = []
    if not any(params.get(option) for option in CREDENTIAL_OPTIONS):
        for option in ("client_secret", "certificate_path"):
            _name, value = _from_environment(option, environ)
            if value:
                if option == "client_secret":
                    secrets.append(value)
                else:  # as Ansible's type "path" treats an option value
                    value = os.path.expanduser(os.path.expandvars(value))
                params[option] = value
                break
        else:
            raise AuthError("one of the following is required: %s (or the environment variables %s)"
                            % (", ".join(CREDENTIAL_OPTIONS),
                               ", ".join(ENVIRONMENT["client_secret"] + ENVIRONMENT["certificate_path"])))
    if not params.get("cloud"):
        name, value = _from_environment("cloud", environ)
        if value and value.strip().lower() not in CLOUD_NAMES:
            raise AuthError("%s is %r, which is not a cloud this module knows (AzureCloud, AzureUSGovernment, "
                            "AzureChinaCloud). Fix: set the cloud option, which wins over %s" % (name, value, name))
        params["cloud"] = CLOUD_NAMES[value.strip().lower()] if value else DEFAULT_CLOUD
    return secrets


MIN_TIMEOUT, MAX_TIMEOUT = 1, 3600
# Tries of one token request (or of the OpenID discovery) before a transient failure is final.
AUTH_ATTEMPTS = 4
# Longest wait between two tries; a longer Retry-After is shortened to this.
AUTH_MAX_WAIT = 30.0
# OAuth error codes that mean "try again later" (RFC 6749 section 4.1.2.1).
TRANSIENT_OAUTH_ERRORS = ("temporarily_unavailable", "server_error")
READ_CHUNK = 65536

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Two or more DNS labels; the last one starts with a letter (a TLD, or xn-- for IDN).
DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
# A JWT (access token, client assertion) anywhere in a text.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
SYSTEM_IDENTITY = "system"


# -- input checks -------------------------------------------------------------------------

def is_guid(text):
    """True for a GUID such as a tenant ID or client ID."""
    return bool(GUID.match(str(text or "")))


def check_tenant(tenant):
    """The tenant must be a GUID or a DNS domain name; raises AuthError otherwise."""
    if is_guid(tenant) or DOMAIN.match(str(tenant or "")):
        return
    raise AuthError("tenant %r is neither a tenant ID (a GUID) nor a domain name of the tenant. Fix: set tenant (or "
                    "AZURE_TENANT / AZURE_TENANT_ID) to the Directory (tenant) ID shown in the Entra admin center, or to "
                    "a domain such as contoso.onmicrosoft.com" % (tenant,))


def check_managed_identity(value):
    """managed_identity is ``system`` or the client ID (a GUID) of a user-assigned identity."""
    if value.lower() == SYSTEM_IDENTITY or is_guid(value):
        return
    raise AuthError("managed_identity %r must be 'system' (the identity Azure assigned to this machine) or the client ID "
                    "(a GUID) of a user-assigned managed identity" % (value,))


def check_auth_params(params):
    """Problems with the auth options that the argument spec cannot express; raises AuthError."""
    check_tenant(params.get("tenant"))
    if params.get("managed_identity"):
        check_managed_identity(params["managed_identity"])
    elif not params.get("access_token") and not params.get("client_id"):
        raise AuthError("client_id is required with client_secret or certificate_path (or set AZURE_CLIENT_ID): "
                        "it is the Application (client) ID of the app registration")
    if params.get("ca_path"):
        check_ca_path(params["ca_path"])
    timeout = params.get("timeout")
    if timeout is not None and not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise AuthError("timeout must be between %d and %d seconds, got %s" % (MIN_TIMEOUT, MAX_TIMEOUT, timeout))


def check_ca_path(ca_path):
    """ca_path must be a readable PEM file with at least one certificate."""
    if not os.path.isfile(ca_path):
        raise AuthError("ca_path %s does not exist or is not a file" % ca_path)
    try:
        with open(ca_path, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise AuthError("ca_path %s cannot be read: %s" % (ca_path, exc.strerror)) from None
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise AuthError("ca_path %s holds no PEM certificate (-----BEGIN CERTIFICATE-----). Fix: export the CA "
                        "certificate in PEM (Base-64) format" % ca_path)


def tls_verify(params):
    """What requests needs for ``verify=``: False, a CA bundle path, or True."""
    if not params.get("validate_certs", True):
        return False
    return params.get("ca_path") or True


def resolve_endpoints(cloud, login_url=None, exchange_url=None):
    """Return (login_url, exchange_url, custom_login) for a cloud and optional overrides."""
    # None: apply_environment did not run (a caller of its own); the default cloud.
    default_login, default_exchange = CLOUDS[cloud or DEFAULT_CLOUD]
    login = (login_url or default_login).rstrip("/")
    exchange = (exchange_url or default_exchange).rstrip("/")
    for name, url in (("login_url", login), ("exchange_url", exchange)):
        if not url.lower().startswith("https://"):
            raise AuthError("%s must be an https:// URL (Entra ID and Exchange Online only speak HTTPS), got %r" % (name, url))
    return login, exchange, bool(login_url)


# -- certificates ---------------------------------------------------------------------------

def _checked_password(load, password, unreadable):
    """Whether MSAL must be given ``password`` for a key that ``load(password_bytes)`` opens.

    MSAL fails with a traceback on an encrypted key without password, a wrong password,
    or a password for a key that is not encrypted; we try the key first. ``unreadable``
    is the message for a key that opens neither with the password nor without.
    """
    if load is None:
        return bool(password)
    unsupported = _cryptography()["UnsupportedAlgorithm"]
    if password:
        try:
            load(password.encode("utf-8"))
            return True
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if not isinstance(exc, (TypeError, ValueError, unsupported)):
                raise
            # a wrong password, or a key that is not encrypted at all
    try:
        load(None)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if not isinstance(exc, (TypeError, ValueError, unsupported)):
            raise
        raise AuthError(unreadable) from None
    return False


def pem_thumbprint(data, certificate_path):
    """SHA-1 thumbprint (hex) of the first certificate in a PEM file, as Entra ID shows it."""
    crypto = _cryptography()
    try:
        cert = crypto["x509"].load_pem_x509_certificate(data)
    except ValueError:
        raise AuthError("the certificate in %s cannot be read: it is damaged or not PEM" % certificate_path) from None
    # SHA-1 is what the x5t header of MSAL before 1.35 names a certificate by, not a security choice.
    return cert.fingerprint(crypto["hashes"].SHA1()).hex().upper()  # nosec


def certificate_credential(certificate_path, certificate_password=None):
    """MSAL client_credential for a PEM (key + certificate) or PFX/PKCS#12 file, checked first."""
    if not os.path.isfile(certificate_path):
        raise AuthError("certificate_path %s does not exist or is not a file" % certificate_path)
    with open(certificate_path, "rb") as handle:
        data = handle.read()
    password_fix = ("Fix: pass the key's password as certificate_password (or AZURE_CLIENT_CERTIFICATE_PASSWORD)")
    crypto = _cryptography()
    if certificate_path.lower().endswith((".pfx", ".p12")):
        load = None if crypto is None else (lambda secret: crypto["pkcs12"].load_key_and_certificates(data, secret))
        unreadable = ("%s cannot be opened: certificate_password is missing or wrong, or the file is not PKCS#12. %s"
                      % (certificate_path, password_fix))
        credential = {"private_key_pfx_path": certificate_path}
    else:
        pem = data.decode("utf-8", "replace")
        if "PRIVATE KEY" not in pem or "BEGIN CERTIFICATE" not in pem:
            raise AuthError("certificate_path %s must hold both the private key and the certificate in PEM, "
                            "or be a .pfx/.p12 file" % certificate_path)
        load = None if crypto is None else (lambda secret: crypto["load_pem_private_key"](data, secret))
        if "ENCRYPTED" in pem:
            unreadable = ("the private key in %s is encrypted and certificate_password is missing or wrong. %s"
                          % (certificate_path, password_fix))
        else:
            unreadable = "the private key in %s cannot be read: it is damaged or in an unknown format" % certificate_path
        credential = {"private_key": pem, "public_certificate": pem}
        if not MSAL_COMPUTES_THUMBPRINT:
            credential["thumbprint"] = pem_thumbprint(data, certificate_path)
    if _checked_password(load, certificate_password, unreadable):
        credential["passphrase"] = certificate_password
    return credential


# -- tokens -----------------------------------------------------------------------------------

def token_tenant_id(token):
    """The tenant GUID in an access token's ``tid`` claim, or None.

    The signature is not checked: the token is our own, from the configured host, and
    only its tenant is read.
    """
    try:
        payload = str(token).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return tid.lower() if is_guid(tid) else None


def tenant_id_for(token, tenant):
    """The tenant GUID a token is for; raises AuthError when neither the token nor ``tenant`` says."""
    tid = token_tenant_id(token)
    if tid and is_guid(tenant) and tid != tenant.lower():
        raise AuthError("the access token is for tenant %s, not for the configured tenant %s. Fix: get a token for "
                        "tenant %s, or correct the tenant option" % (tid, tenant.lower(), tenant.lower()))
    if tid:
        return tid
    if is_guid(tenant):
        return tenant.lower()
    raise AuthError("the access token carries no tenant ID (tid claim) and tenant %r is a domain name. Fix: set tenant "
                    "to the tenant ID (a GUID)" % (tenant,))


def _first_line(text):
    """The first line of a text, without a closing full stop (our messages add their own)."""
    lines = str(text).strip().splitlines()
    return lines[0].rstrip(". ") if lines else ""


def redact(text, secrets):
    """``text`` with every secret and every JWT replaced by a placeholder."""
    text = JWT.sub("<token>", str(text))
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


# AADSTS code -> what the admin should do about it.
AADSTS_FIXES = {
    "7000215": "the client secret is wrong or expired: create a new secret in the app registration "
               "and pass it as client_secret (or AZURE_SECRET / AZURE_CLIENT_SECRET)",
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


def explain_token_error(result, client_id, tenant):
    """Turn MSAL's error dict into one sentence with the AADSTS code and the fix."""
    codes = [str(code) for code in result.get("error_codes") or []]
    description = _first_line(result.get("error_description") or result.get("error") or "unknown error")
    fixes = [AADSTS_FIXES[code] for code in codes if code in AADSTS_FIXES]
    fix = fixes[0] if fixes else "check tenant, client_id and the credential"
    return "Could not get a token for client_id %s in tenant %s: %s. Fix: %s." % (client_id, tenant, description, fix)


# -- HTTP -------------------------------------------------------------------------------------

def _host(url):
    return urlsplit(str(url or "")).netloc or str(url)


def _cert_verification_error(exc):
    """The ssl.SSLCertVerificationError somewhere inside requests' SSLError, or None."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return None


# OpenSSL X509_V_ERR_* codes, grouped by what the user has to do.
UNKNOWN_CA_CODES = (2, 18, 19, 20, 21)
EXPIRED_CODES = (9, 10)
NAME_MISMATCH_CODES = (62, 64)


def explain_tls_error(exc, url):
    """One sentence with the fix for a TLS failure (requests' SSLError) talking to ``url``."""
    host = _host(url)
    name = urlsplit(str(url or "")).hostname or host
    verification = _cert_verification_error(exc)
    code = getattr(verification, "verify_code", None)
    reason = _first_line(getattr(verification, "verify_message", None) or exc)
    text = str(reason).lower() + " " + str(exc).lower()
    if code in UNKNOWN_CA_CODES or "local issuer" in text or "self-signed" in text or "self signed" in text:
        return ("TLS verification of %s failed: its certificate was issued by a certificate authority this machine does not "
                "trust (%s). Fix: set ca_path to the PEM of the CA that signed %s's certificate (for example the CA of a "
                "TLS-inspecting proxy)" % (host, reason, name))
    if code in NAME_MISMATCH_CODES or "mismatch" in text:
        return ("TLS verification of %s failed: its certificate is not issued for the name %s (%s). Fix: use the host "
                "name the certificate names in login_url/exchange_url, or have the proxy issue certificates for %s"
                % (host, name, reason, name))
    if code in EXPIRED_CODES or "expired" in text or "not yet valid" in text:
        return ("TLS verification of %s failed: its certificate is expired or not yet valid (%s). Fix: renew the "
                "server certificate, or correct the date and time of this machine" % (host, reason))
    if "no_certificate_or_crl_found" in text or "pem lib" in text:
        return "the CA bundle could not be read (%s). Fix: point ca_path at a PEM file of CA certificates" % reason
    return "TLS connection to %s failed (%s). Fix: check ca_path and validate_certs" % (host, reason)


def refuse_redirect(response, url):
    """Raise AuthError for a 3xx answer: credentials go to the configured host only."""
    if not 300 <= response.status_code < 400:
        return
    target = urljoin(str(url), response.headers.get("Location") or "")
    target_host = _host(target) if response.headers.get("Location") else "an unnamed location"
    raise AuthError("%s answered HTTP %d, a redirect to %s: refusing to send credentials to %s. Fix: set login_url "
                    "(or cloud) to the Entra ID host itself; redirects are never followed"
                    % (_host(url), response.status_code, target_host, target_host))


def _wait_at_most(raw, seconds):
    """Let the next socket read block for ``seconds`` at most (the rest of the deadline)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        return
    current = sock.gettimeout()
    sock.settimeout(max(0.001, seconds if current is None else min(current, seconds)))


def read_within(response, deadline):
    """Read the body of a ``stream=True`` response by ``deadline`` (a time.monotonic() value).

    A server that trickles bytes restarts requests' read timeout with every byte; only a
    deadline for the whole answer bounds how long one answer may take. Afterwards the
    response behaves as if read normally (``.content``, ``.text``, ``.json()``). Raises
    requests' ReadTimeout when the deadline passes, and requests' exception types for
    broken connections, as requests itself would.
    """
    raw = response.raw
    read = getattr(raw, "read1", None) or raw.read
    too_slow = "%s did not send its whole answer within the timeout" % _host(response.url)
    chunks = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise requests.exceptions.ReadTimeout(too_slow)
            _wait_at_most(raw, remaining)
            chunk = read(READ_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except requests.exceptions.RequestException:  # an OSError too: first
        response.close()
        raise
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
        response.close()
        raise requests.exceptions.ReadTimeout(too_slow) from exc
    except urllib3.exceptions.DecodeError as exc:
        response.close()
        raise requests.exceptions.ContentDecodingError(str(exc)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
    # requests keeps a read body here; setting it is what Response.content does itself.
    response._content = b"".join(chunks)  # pylint: disable=protected-access
    response._content_consumed = True  # pylint: disable=protected-access
    return response.content


def is_local_endpoint(url):
    """True for a loopback or link-local host: a managed identity endpoint (169.254.169.254, App Service's 127.0.0.1)."""
    host = urlsplit(str(url or "")).hostname or ""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_link_local


def _direct_session():
    """A requests session that reads no proxy (or other) settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


class VerifiedHttpClient:
    """The HTTP client MSAL uses: every call carries our TLS settings and time limit.

    requests lets REQUESTS_CA_BUNDLE override a Session's own ``verify``; passing
    ``verify=`` per request is the only way ``ca_path`` is really used. Redirects are
    never followed (a redirected POST would carry the secret or assertion to another
    host), and an answer that is not complete after ``timeout`` seconds is given up.
    """

    def __init__(self, session, verify, timeout):
        self._session = session
        self._verify = verify
        self._timeout = timeout
        self._direct = None

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        """POST as MSAL asks, with our verify, time limit and no redirects."""
        return self._request("POST", url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url, params=None, headers=None, **kwargs):
        """GET as MSAL asks, with our verify, time limit and no redirects."""
        return self._request("GET", url, params=params, headers=headers, **kwargs)

    def _request(self, method, url, **kwargs):
        for name in ("verify", "allow_redirects", "stream", "timeout"):
            kwargs.pop(name, None)
        deadline = time.monotonic() + self._timeout
        session = self._session
        if is_local_endpoint(url):
            # A managed identity endpoint is on this machine (or its hypervisor) and speaks plain
            # HTTP: through an HTTP_PROXY the proxy would see the token and could hand back its own.
            # verify= is passed below, so the environment's CA bundle variables are not needed.
            if self._direct is None:
                self._direct = _direct_session()
            session = self._direct
        response = session.request(method, url, verify=self._verify, timeout=self._timeout,
                                   allow_redirects=False, stream=True, **kwargs)
        try:
            refuse_redirect(response, url)
            read_within(response, deadline)
        finally:
            response.close()  # back to the pool when read whole, discarded otherwise
        return response

    def close(self):
        """MSAL may call close(); the shared session is closed by its owner, our own one here."""
        if self._direct is not None:
            self._direct.close()
            self._direct = None


class _AnswerLog:
    """The HTTP client as MSAL sees it, remembering the last answer.

    MSAL's result does not say which HTTP status came back, whether the body was JSON
    or what Retry-After asked for; those decide whether a failure is worth a retry.
    """

    def __init__(self, http_client):
        self._client = http_client
        self.url = None
        self.status = None
        self.headers = {}
        self.json = True
        self.summary = ""

    def forget(self):
        """Start a new try."""
        self.url, self.status, self.headers, self.json, self.summary = None, None, {}, True, ""

    def post(self, url, **kwargs):
        """POST through the wrapped client."""
        return self._note(url, self._client.post, kwargs)

    def get(self, url, **kwargs):
        """GET through the wrapped client."""
        return self._note(url, self._client.get, kwargs)

    def close(self):
        """Nothing to close: the wrapped client belongs to the caller."""

    def _note(self, url, call, kwargs):
        self.forget()
        self.url = url
        response = call(url, **kwargs)
        self.status, self.headers = response.status_code, response.headers
        try:
            body = json.loads(response.text)
        except ValueError:
            self.json = False
        else:
            # Entra ID says error_description, the managed identity endpoints say message.
            if isinstance(body, dict):
                summary = body.get("error_description") or body.get("message") or body.get("Message") or ""
                self.summary = _first_line(summary)
        return response

    def was_transient(self):
        """True when the last answer asks for a retry: 429, 5xx, or a 2xx that is not JSON (a proxy's page)."""
        if self.status is None:
            return False
        return self.status == 429 or self.status >= 500 or (200 <= self.status < 300 and not self.json)

    def describe(self):
        """The last answer in a few words."""
        if not self.json:
            return "HTTP %s, %s instead of JSON" % (self.status, self.headers.get("Content-Type") or "no content type")
        return "HTTP %s%s" % (self.status, " (%s)" % self.summary if self.summary else "")


# What a broken or slow connection raises; retried. (SSLError is a ConnectionError too, but is not retried.)
TRANSPORT_ERRORS = ()
if requests is not None:
    TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class _RetryingTokenProvider:
    """What both MSAL providers share: a lock, classified retries, renewal, the tenant ID.

    Every try that fails is classified: transient (no answer, timeout, 429, 5xx, not
    JSON) is retried after Retry-After or a jittered backoff, at most AUTH_ATTEMPTS
    times; anything else is final at once. Only AuthError leaves.
    """

    source = "Entra ID"

    def __init__(self, tenant, http_client, sleep=time.sleep, secrets=()):
        self.tenant = tenant
        self.renewals = 0
        self._lock = threading.Lock()
        self._current = None
        self._gave_up = None
        self._http = _AnswerLog(http_client)
        # MSAL's HTTP cache replays a 429/5xx answer until its Retry-After has passed;
        # our own backoff decides when to ask again, so the cache is emptied before a try.
        self._http_cache = {}
        self._sleep = sleep
        self._secrets = [secret for secret in secrets if secret]

    # subclasses: _ask() returns MSAL's result dict; _forget() drops cached tokens;
    # _explain(result) and _explain_failure(exc) say what went wrong and the fix.

    def get(self):
        """Return a valid access token, from MSAL's cache when it has one.

        Once the retries have run out, the same AuthError is raised at once to every later
        caller: the threads of a run waiting for a token must not each repeat them.
        """
        with self._lock:
            if self._gave_up is not None:
                raise AuthError(str(self._gave_up), transient=self._gave_up.transient)
            try:
                self._current = self._with_retries(self._token)
            except AuthError as error:
                self._gave_up = error
                raise
            return self._current

    def invalidate(self, rejected_token):
        """Forget a token the API rejected (expired or revoked) so the next get() renews it."""
        with self._lock:
            # Many batches in flight see the same 401; only the first one renews.
            if rejected_token == self._current:
                self._forget()
                self._current = None
                self.renewals += 1

    def tenant_id(self):
        """The tenant GUID of the tokens (their ``tid`` claim)."""
        return tenant_id_for(self.get(), self.tenant)

    def _token(self):
        result = self._ask()
        if isinstance(result, dict) and result.get("access_token"):
            return result["access_token"]
        result = result if isinstance(result, dict) else {}
        if self._http.was_transient() or result.get("error") in TRANSIENT_OAUTH_ERRORS:
            raise AuthError(self._transient_text(), transient=True)
        raise AuthError(self._explain(result))

    def _transient_text(self):
        return "%s answered %s" % (_host(self._http.url), self._http.describe())

    def _with_retries(self, step):
        """Run ``step`` until it succeeds, fails for good, or AUTH_ATTEMPTS tries failed."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._http.forget()
            self._http_cache.clear()
            try:
                return self._attempt(step)
            except AuthError as error:
                message = redact(error, self._secrets + [self._current])
                if not error.transient:
                    raise AuthError(message) from None
                if attempt >= AUTH_ATTEMPTS:
                    raise AuthError("No token after %d attempts in %.0f s: %s. %s or the network may be down or "
                                    "overloaded: try again later" % (attempt, time.monotonic() - started, message, self.source),
                                    transient=True) from None
            self._sleep(min(AUTH_MAX_WAIT, parse_retry_after(self._http.headers.get("Retry-After"),
                                                             default=backoff_delay(attempt))))

    def _attempt(self, step):
        """One try; whatever it raises becomes an AuthError (transient or not)."""
        try:
            return step()
        except AuthError:
            raise
        except requests.exceptions.SSLError as exc:
            raise AuthError(explain_tls_error(exc, self._http.url)) from None
        except TRANSPORT_ERRORS as exc:
            raise AuthError("no answer from %s (%s)" % (_host(self._http.url), exc.__class__.__name__), transient=True) from None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # MSAL raises ValueError, KeyError, RuntimeError, its own MsalError, JSON errors...
            # for answers it cannot use; the last answer tells whether a retry can help.
            if self._http.was_transient():
                raise AuthError(self._transient_text(), transient=True) from None
            raise AuthError(self._explain_failure(exc)) from None


class MsalTokenProvider(_RetryingTokenProvider):
    """Tokens for the Exchange scope from MSAL's client-credentials flow (thread-safe).

    The OpenID discovery runs here, so a wrong tenant or login host fails before the
    module does anything else.
    """

    def __init__(self, tenant, client_id, credential, login_url, scope, http_client, custom_login,
                 sleep=time.sleep, secrets=()):
        super().__init__(tenant, http_client, sleep, secrets)
        self.client_id = client_id
        self.scope = scope
        self._login_url = login_url
        self._credential = credential
        self._custom_login = custom_login
        self._app = self._with_retries(self._build_app)

    def _build_app(self):
        app = msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._credential,
            authority="%s/%s" % (self._login_url, self.tenant),
            http_client=self._http,
            http_cache=self._http_cache,
            # A custom login_url is not a host MSAL knows; without this it would ask
            # login.microsoftonline.com to vouch for it first.
            instance_discovery=False if self._custom_login else None,
        )
        check_token_endpoint(app.authority.token_endpoint, self._login_url)
        return app

    def _ask(self):
        return self._app.acquire_token_for_client(scopes=[self.scope])

    def _forget(self):
        self._app.remove_tokens_for_client()

    def _explain(self, result):
        return explain_token_error(result, self.client_id, self.tenant)

    def _explain_failure(self, exc):
        first_line = _first_line(exc) or exc.__class__.__name__
        if isinstance(self._credential, dict):
            # MSAL refused the certificate credential (the tenant was checked before it).
            fix = ("check certificate_path (a PEM with the private key and the certificate, or a .pfx/.p12 with "
                   "certificate_password), then cloud/login_url")
        else:
            fix = "check the tenant option (GUID or name.onmicrosoft.com) and cloud/login_url"
        return ("Could not set up authentication for tenant %s at %s: %s. Fix: %s."
                % (self.tenant, self._login_url, first_line, fix))


def check_token_endpoint(token_endpoint, login_url):
    """The token endpoint MSAL discovered must be https on the login host; raises AuthError."""
    endpoint, login = urlsplit(str(token_endpoint)), urlsplit(login_url)
    if endpoint.scheme.lower() != "https" or endpoint.netloc.lower() != login.netloc.lower():
        raise AuthError("the OpenID configuration of %s names %s as token endpoint: refusing to send credentials to %s. "
                        "Fix: set login_url (or cloud) to the Entra ID host of the tenant"
                        % (login.netloc, token_endpoint, endpoint.netloc or token_endpoint))


class ManagedIdentityTokenProvider(_RetryingTokenProvider):
    """Tokens of an Azure managed identity of this machine, through MSAL (thread-safe).

    MSAL finds the identity endpoint itself: App Service / Functions / Automation
    (IDENTITY_ENDPOINT + IDENTITY_HEADER), Azure Arc, Azure ML, or the VM's instance
    metadata service.
    """

    source = "The managed identity endpoint"

    def __init__(self, tenant, identity, resource, http_client, sleep=time.sleep):
        secrets = [os.environ.get("IDENTITY_HEADER"), os.environ.get("MSI_SECRET")]
        super().__init__(tenant, http_client, sleep, secrets)
        self.identity = identity
        self.resource = resource
        self._client = None
        self._forget()

    def _describe_identity(self):
        if self.identity.lower() == SYSTEM_IDENTITY:
            return "the system-assigned managed identity"
        return "the user-assigned managed identity with client ID %s" % self.identity

    def _forget(self):
        if self.identity.lower() == SYSTEM_IDENTITY:
            identity = msal.SystemAssignedManagedIdentity()
        else:
            identity = msal.UserAssignedManagedIdentity(client_id=self.identity)
        # A new client has an empty token cache: the next get() asks the endpoint again.
        self._client = msal.ManagedIdentityClient(identity, http_client=self._http, http_cache=self._http_cache)

    def _ask(self):
        return self._client.acquire_token_for_client(resource=self.resource)

    def _explain(self, result):
        description = _first_line(result.get("error_description") or result.get("error") or "unknown error")
        return ("Could not get a token for %s from %s: %s. Fix: assign that identity to this machine (or use "
                "managed_identity: system), and give it the Exchange.ManageAsApp permission and an Exchange role "
                "like an app registration" % (self._describe_identity(), _host(self._http.url), description))

    def _explain_failure(self, exc):
        first_line = _first_line(exc) or exc.__class__.__name__
        return ("Could not use %s: %s. Fix: run on an Azure machine or service with that identity, or use another "
                "credential" % (self._describe_identity(), first_line))


class StaticTokenProvider:
    """A token the caller obtained elsewhere (``access_token``); it cannot be renewed."""

    renewals = 0

    def __init__(self, token, tenant=None):
        self._token = token
        self.tenant = tenant

    def get(self):
        """Return the given token."""
        return self._token

    def invalidate(self, rejected_token):
        """The API refused the given token: nothing can renew it."""
        del rejected_token
        raise AuthError("Exchange Online rejected the given access_token (expired or revoked). Fix: pass a fresh "
                        "token, or pass client_secret or certificate_path so the module can renew tokens itself.")

    def tenant_id(self):
        """The tenant GUID of the given token, else ``tenant`` if that is a GUID."""
        return tenant_id_for(self._token, self.tenant)


def build_token_provider(params, login_url, exchange_url, custom_login, http_client, sleep=time.sleep):
    """Choose and set up the token provider from the module parameters (checked first)."""
    check_auth_params(params)
    if params.get("access_token"):
        return StaticTokenProvider(params["access_token"], params["tenant"])
    if params.get("managed_identity"):
        return ManagedIdentityTokenProvider(params["tenant"], params["managed_identity"], exchange_url, http_client, sleep)
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
        sleep=sleep,
        secrets=[params.get("client_secret"), params.get("certificate_password")],
    )
