# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exo_auth end to end against the Exchange Online emulator (tests/emulator).

Each token is checked the way a module uses it: Exchange's InvokeCommand must accept it.
Waits between retries are recorded, not slept, so the tests stay quick.
"""

from __future__ import annotations

import traceback

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    AUTH_ARGUMENT_SPEC,
    AUTH_ATTEMPTS,
    AuthError,
    MsalTokenProvider,
    VerifiedHttpClient,
    build_token_provider,
    is_local_endpoint,
    resolve_endpoints,
    tls_verify,
)

WRONG_SECRET = "Wr0ng~secret-that-must-never-show"


def auth_params(info, **overrides):
    """Module parameters for the emulator (secret app unless overridden)."""
    params = {name: spec.get("default") for name, spec in AUTH_ARGUMENT_SPEC.items()}
    params.update(tenant=info["tenant_id"], client_id=info["apps"]["secret"]["client_id"],
                  client_secret=info["apps"]["secret"]["client_secret"], login_url=info["login_url"],
                  exchange_url=info["exchange_url"], ca_path=info["ca_path"], timeout=10)
    params.update(overrides)
    return params


def make_provider(params, sleeps):
    """What exo_client.connect does, with waits recorded in ``sleeps``."""
    login_url, exchange_url, custom_login = resolve_endpoints(params["cloud"], params["login_url"], params["exchange_url"])
    http_client = VerifiedHttpClient(requests.Session(), tls_verify(params), params["timeout"])
    return build_token_provider(params, login_url, exchange_url, custom_login, http_client, sleep=sleeps.append)


def exchange_accepts(exo_client, token):
    """True when InvokeCommand runs a cmdlet with this token."""
    return exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=token).status_code == 200


def token_requests(exo):
    """Token endpoint requests the emulator has answered since the reset."""
    return exo.control.stats()["by_endpoint"].get("token", 0)


def shown(error):
    """Everything a user could see of an error: its message and its printed traceback."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


@pytest.fixture
def sleeps():
    """The waits a provider asked for."""
    return []


@pytest.fixture
def app_identity(exo, monkeypatch):
    """The emulator's managed identity endpoint, App Service style, in the environment MSAL reads."""
    endpoint = exo.info["managed_identity"]
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint["endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", endpoint["header"])
    return endpoint


# -- client credentials ---------------------------------------------------------------------

def test_secret_token_is_accepted_and_names_its_tenant(exo, exo_client, sleeps):
    tokens = make_provider(auth_params(exo.info), sleeps)
    assert exchange_accepts(exo_client, tokens.get())
    assert tokens.tenant_id() == exo.info["tenant_id"]


@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_certificate_files_sign_in_with_this_msal(exo, exo_client, sleeps, kind):
    # make units-lowest runs this with azure.azcollection's msal (1.33), which does not compute a
    # PEM certificate's thumbprint itself; make units with the newest, which does.
    app = exo.info["apps"]["certificate"]
    path = app["cert_pem_path"] if kind == "pem" else app["pfx_path"]
    params = auth_params(exo.info, client_id=app["client_id"], client_secret=None, certificate_path=path,
                         certificate_password=app["pfx_password"] if kind == "pfx" else None)
    assert exchange_accepts(exo_client, make_provider(params, sleeps).get())


def test_encrypted_pem_certificate_with_its_password(exo, exo_client, sleeps, tmp_path):
    with open(exo.info["apps"]["certificate"]["cert_pem_path"], "rb") as handle:
        pem = handle.read()
    key = serialization.load_pem_private_key(pem, None)
    encrypted = tmp_path / "app-encrypted.pem"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"pem-pass"))
                          + pem[pem.index(b"-----BEGIN CERTIFICATE-----"):])
    params = auth_params(exo.info, client_id=exo.info["apps"]["certificate"]["client_id"], client_secret=None,
                         certificate_path=str(encrypted), certificate_password="pem-pass")
    assert exchange_accepts(exo_client, make_provider(params, sleeps).get())


def test_pfx_with_wrong_password_fails_before_any_request(exo, sleeps):
    app = exo.info["apps"]["certificate"]
    params = auth_params(exo.info, client_id=app["client_id"], client_secret=None, certificate_path=app["pfx_path"],
                         certificate_password="not-" + app["pfx_password"])
    with pytest.raises(AuthError, match="certificate_password is missing or wrong") as caught:
        make_provider(params, sleeps)
    assert app["pfx_password"] not in shown(caught.value)
    assert exo.control.stats()["requests_total"] == 0


def test_transient_token_failures_at_start_are_retried_after_retry_after(exo, exo_client, sleeps):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "token", "count": 2, "retry_after": 3})
    tokens = make_provider(auth_params(exo.info), sleeps)
    assert exchange_accepts(exo_client, tokens.get())
    assert sleeps == [3.0, 3.0]
    assert token_requests(exo) == 3


def test_dropped_connection_mid_run_is_retried_on_renewal(exo, exo_client, sleeps):
    tokens = make_provider(auth_params(exo.info), sleeps)
    first = tokens.get()
    exo.control.revoke_tokens()
    assert not exchange_accepts(exo_client, first)
    exo.control.add_faults({"kind": "drop", "where": "token", "count": 1})
    tokens.invalidate(first)  # what the client does after a 401
    second = tokens.get()
    assert second != first and exchange_accepts(exo_client, second)
    assert tokens.renewals == 1 and len(sleeps) == 1


def test_transient_failures_to_the_end_are_a_transient_auth_error(exo, sleeps):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "token", "count": 50})
    tokens = make_provider(auth_params(exo.info), sleeps)
    with pytest.raises(AuthError) as caught:
        tokens.get()
    assert caught.value.transient
    assert "HTTP 503" in str(caught.value) and "try again later" in str(caught.value)
    assert token_requests(exo) == AUTH_ATTEMPTS and len(sleeps) == AUTH_ATTEMPTS - 1


def test_wrong_secret_is_permanent_explained_and_not_retried(exo, sleeps):
    tokens = make_provider(auth_params(exo.info, client_secret=WRONG_SECRET), sleeps)
    with pytest.raises(AuthError) as caught:
        tokens.get()
    assert not caught.value.transient
    assert "AADSTS7000215" in str(caught.value) and "create a new secret" in str(caught.value)
    assert token_requests(exo) == 1 and sleeps == []
    assert WRONG_SECRET not in shown(caught.value)


def test_unknown_tenant_domain_is_permanent(exo, sleeps):
    with pytest.raises(AuthError, match="check the tenant option") as caught:
        make_provider(auth_params(exo.info, tenant="fabrikam.onmicrosoft.com"), sleeps)
    assert not caught.value.transient and sleeps == []


def test_untrusted_emulator_ca_is_explained(exo, sleeps):
    with pytest.raises(AuthError, match="set ca_path to the PEM of the CA that signed 127.0.0.1's certificate"):
        make_provider(auth_params(exo.info, ca_path=None), sleeps)


# -- managed identity ------------------------------------------------------------------------

def test_system_assigned_identity_token_is_accepted(exo, exo_client, sleeps, app_identity):
    del app_identity
    tokens = make_provider(auth_params(exo.info, client_id=None, client_secret=None, managed_identity="system"), sleeps)
    assert exchange_accepts(exo_client, tokens.get())
    assert tokens.tenant_id() == exo.info["tenant_id"]


def test_user_assigned_identity_token_is_accepted_and_renewed(exo, exo_client, sleeps, app_identity):
    params = auth_params(exo.info, client_id=None, client_secret=None,
                         managed_identity=app_identity["user_assigned_client_id"])
    tokens = make_provider(params, sleeps)
    first = tokens.get()
    assert exchange_accepts(exo_client, first)
    assert tokens.get() == first  # cached
    exo.control.revoke_tokens()
    tokens.invalidate(first)
    second = tokens.get()
    assert second != first and exchange_accepts(exo_client, second) and tokens.renewals == 1
    assert exo.control.stats()["by_endpoint"]["managed_identity"] == 2


def test_managed_identity_uses_ca_path(exo, sleeps, app_identity):
    del app_identity
    params = auth_params(exo.info, client_id=None, client_secret=None, managed_identity="system", ca_path=None)
    with pytest.raises(AuthError, match="set ca_path"):
        make_provider(params, sleeps).get()


def test_unknown_user_assigned_identity_is_permanent(exo, sleeps, app_identity):
    params = auth_params(exo.info, client_id=None, client_secret=None,
                         managed_identity="12345678-90ab-4cde-8f01-234567890abc")
    with pytest.raises(AuthError) as caught:
        make_provider(params, sleeps).get()
    assert not caught.value.transient and sleeps == []
    assert "No User Assigned" in str(caught.value) and "12345678-90ab-4cde-8f01-234567890abc" in str(caught.value)
    assert app_identity["header"] not in shown(caught.value)


def test_wrong_identity_header_never_shows_the_header(exo, sleeps, app_identity, monkeypatch):
    monkeypatch.setenv("IDENTITY_HEADER", "wrong-" + app_identity["header"])
    params = auth_params(exo.info, client_id=None, client_secret=None, managed_identity="system")
    with pytest.raises(AuthError) as caught:
        make_provider(params, sleeps).get()
    assert not caught.value.transient
    assert app_identity["header"] not in shown(caught.value)


# -- secrets never shown -------------------------------------------------------------------------

def _provoke_wrong_secret(exo, sleeps):
    make_provider(auth_params(exo.info, client_secret=WRONG_SECRET), sleeps).get()


def _provoke_transient_end(exo, sleeps):
    exo.control.add_faults({"kind": "status", "status": 502, "where": "token", "count": 50})
    make_provider(auth_params(exo.info, client_secret=WRONG_SECRET), sleeps).get()


def _provoke_drop_end(exo, sleeps):
    exo.control.add_faults({"kind": "drop", "where": "token", "count": 50})
    make_provider(auth_params(exo.info, client_secret=WRONG_SECRET), sleeps).get()


def _provoke_tls(exo, sleeps):
    make_provider(auth_params(exo.info, client_secret=WRONG_SECRET, ca_path=None), sleeps)


def _provoke_rejected_renewal(exo, sleeps):
    tokens = make_provider(auth_params(exo.info), sleeps)
    token = tokens.get()
    exo.control.add_faults({"kind": "status", "status": 400, "where": "token", "count": 50})
    tokens.invalidate(token)
    tokens.get()


def _provoke_static_token_rejected(exo, sleeps):
    token = make_provider(auth_params(exo.info), sleeps).get()
    given = make_provider(auth_params(exo.info, client_id=None, client_secret=None, access_token=token), sleeps)
    given.invalidate(given.get())


@pytest.mark.parametrize("provoke", [_provoke_wrong_secret, _provoke_transient_end, _provoke_drop_end, _provoke_tls,
                                     _provoke_rejected_renewal, _provoke_static_token_rejected])
def test_no_error_shows_a_secret_or_token(exo, sleeps, provoke):
    with pytest.raises(AuthError) as caught:
        provoke(exo, sleeps)
    text = shown(caught.value)
    for secret in (WRONG_SECRET, exo.info["apps"]["secret"]["client_secret"]):
        assert secret not in text
    assert "eyJ" not in text  # no access token or client assertion


def test_managed_identity_token_never_goes_through_a_proxy(exo, exo_client, sleeps, app_identity, monkeypatch):
    # A corporate control node's proxy variables; the proxy here is the emulator's plain-HTTP sink,
    # which cannot tunnel: a request sent through it fails.
    del app_identity
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy_variables = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    for name in proxy_variables:
        monkeypatch.setenv(name, exo.info["sink_http_url"])
    tokens = make_provider(auth_params(exo.info, client_id=None, client_secret=None, managed_identity="system"), sleeps)
    token = tokens.get()
    assert sleeps == []
    for name in proxy_variables:  # the test's own check of the token goes straight to the emulator
        monkeypatch.delenv(name)
    assert exchange_accepts(exo_client, token)


@pytest.mark.parametrize("url, local", [
    ("http://169.254.169.254/metadata/identity/oauth2/token", True),   # Azure instance metadata service
    ("http://127.0.0.1:41234/msi/token", True),                       # App Service / Functions
    ("http://localhost:40342/metadata/identity/oauth2/token", True),  # Azure Arc
    ("http://[::1]:8080/token", True),
    ("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", False),
    ("https://10.1.2.3/token", False),
])
def test_which_endpoints_bypass_proxies(url, local):
    assert is_local_endpoint(url) is local


def test_a_certificate_msal_refuses_names_the_certificate_as_the_fix(exo, sleeps):
    # Before the thumbprint was computed here, MSAL 1.29-1.34 refused a PEM credential and the
    # message sent people to the tenant option.
    params = auth_params(exo.info, client_secret=None, client_id=exo.info["apps"]["certificate"]["client_id"],
                         certificate_path=exo.info["apps"]["certificate"]["cert_pem_path"])
    login_url, exchange_url, custom_login = resolve_endpoints(params["cloud"], params["login_url"], params["exchange_url"])
    http_client = VerifiedHttpClient(requests.Session(), tls_verify(params), params["timeout"])
    with pytest.raises(AuthError) as caught:
        MsalTokenProvider(tenant=params["tenant"], client_id=params["client_id"], credential={"private_key": "not a key"},
                          login_url=login_url, scope=exchange_url + "/.default", http_client=http_client,
                          custom_login=custom_login, sleep=sleeps.append).get()
    message = str(caught.value)
    assert "Fix: check certificate_path" in message and "tenant option" not in message
