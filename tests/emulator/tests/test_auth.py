"""Entra side: MSAL against the emulator, token claims, AADSTS errors."""
from __future__ import annotations

import base64
import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from emulator.client import EmulatorClient, VerifiedHttpClient
from emulator.pki import key_pem, make_self_signed

pytest_plugins = ["emulator.fixtures"]

EXO_SCOPE = "https://outlook.office365.com/.default"


def _msal(info, app, credential, tenant=None):
    return msal.ConfidentialClientApplication(
        info["apps"][app]["client_id"], client_credential=credential,
        authority="%s/%s" % (info["login_url"], tenant or info["tenant_domain"]),
        http_client=VerifiedHttpClient(info["ca_path"]), instance_discovery=False)


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_msal_secret_certificate_pem_and_pfx(exo):
    info = exo.info
    cert = info["apps"]["certificate"]
    with open(cert["cert_pem_path"], encoding="ascii") as handle:
        pem = handle.read()
    credentials = [("secret", info["apps"]["secret"]["client_secret"], "1"),
                   ("certificate", {"private_key": pem, "thumbprint": cert["thumbprint"]}, "2"),
                   ("certificate", {"private_key_pfx_path": cert["pfx_path"], "passphrase": cert["pfx_password"]}, "2")]
    for app, credential, appidacr in credentials:
        for tenant in (info["tenant_domain"], info["tenant_id"]):
            result = _msal(info, app, credential, tenant).acquire_token_for_client(scopes=[EXO_SCOPE])
            assert "access_token" in result, result
            claims = _claims(result["access_token"])
            assert claims["aud"] == "https://outlook.office365.com"
            assert claims["tid"] == info["tenant_id"]
            assert claims["appid"] == info["apps"][app]["client_id"]
            assert claims["roles"] == ["Exchange.ManageAsApp"]
            assert claims["appidacr"] == appidacr
            assert claims["exp"] - claims["iat"] == 3599 and claims["nbf"] <= time.time()
            assert result["expires_in"] <= 3599
    assert exo.control.stats()["tokens_issued"] == 6


def test_token_is_verifiable_with_published_keys(exo):
    info = exo.info
    verify = info["ca_path"]
    config = requests.get("%s/%s/v2.0/.well-known/openid-configuration" % (info["login_url"], info["tenant_domain"]),
                          verify=verify, timeout=10).json()
    assert config["token_endpoint"] == "%s/%s/oauth2/v2.0/token" % (info["login_url"], info["tenant_id"])
    for key in ("issuer", "authorization_endpoint", "jwks_uri"):
        assert config[key].startswith(info["login_url"])
    keys = requests.get(config["jwks_uri"], verify=verify, timeout=10).json()["keys"]
    token = EmulatorClient(info).token()
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="https://outlook.office365.com")
    assert claims["tid"] == info["tenant_id"]


def test_scope_of_base_url_and_token_lifetime(exo):
    client = EmulatorClient(exo.info)
    response = client.token_response(scope=exo.info["base_url"] + "/.default")
    assert _claims(response.json()["access_token"])["aud"] == exo.info["base_url"]
    exo.control.config(token_lifetime=120)
    body = client.token_response().json()
    assert body["expires_in"] == 120 and body["token_type"] == "Bearer"
    claims = _claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 120


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith("AADSTS%d:" % code)
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert body[key]
    return body


def test_aadsts_errors(exo):
    client = EmulatorClient(exo.info)
    assert _error(client.token_response(client_secret="wrong"), 401, 7000215)["error"] == "invalid_client"
    assert _error(client.token_response(client_id=str(uuid.uuid4())), 400, 700016)["error"] == "unauthorized_client"
    _error(client.token_response(tenant="fabrikam.onmicrosoft.com"), 400, 90002)
    _error(client.token_response(grant_type="password"), 400, 70003)
    _error(client.token_response(scope="https://outlook.office365.com/Exchange.ManageAsApp"), 400, 1002012)
    _error(client.token_response(scope="https://unknown.example.com/.default"), 400, 500011)
    response = requests.get("%s/%s/v2.0/.well-known/openid-configuration" % (exo.info["login_url"], uuid.uuid4()),
                            verify=exo.info["ca_path"], timeout=10)
    _error(response, 400, 90002)


def test_msal_surfaces_wrong_secret(exo):
    result = _msal(exo.info, "secret", "not-the-secret").acquire_token_for_client(scopes=[EXO_SCOPE])
    assert result["error"] == "invalid_client" and 7000215 in result["error_codes"]


def _assertion(info, key, audience=None, issuer=None, thumbprint_of=None, lifetime=600):
    now = int(time.time())
    client_id = info["apps"]["certificate"]["client_id"]
    x5t = base64.urlsafe_b64encode(bytes.fromhex(info["apps"]["certificate"]["thumbprint"])).decode()
    if thumbprint_of is not None:
        x5t = base64.urlsafe_b64encode(thumbprint_of.fingerprint(hashes.SHA1())).decode()  # nosec - thumbprint
    claims = {"aud": audience or "%s/%s/oauth2/v2.0/token" % (info["login_url"], info["tenant_id"]),
              "iss": issuer or client_id, "sub": issuer or client_id, "iat": now, "nbf": now, "exp": now + lifetime,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key_pem(key), algorithm="RS256", headers={"x5t": x5t})


@pytest.mark.parametrize("case", ["foreign_key", "wrong_audience", "expired", "wrong_thumbprint", "wrong_issuer"])
def test_bad_client_assertion(exo, case):
    info = exo.info
    with open(info["apps"]["certificate"]["cert_pem_path"], "rb") as handle:
        real_key = load_pem_private_key(handle.read(), None)
    other_key, other_cert = make_self_signed("intruder")
    assertion = {
        "foreign_key": lambda: _assertion(info, other_key),
        "wrong_audience": lambda: _assertion(info, real_key, audience="https://login.microsoftonline.com/x/oauth2/v2.0/token"),
        "expired": lambda: _assertion(info, real_key, lifetime=-60),
        "wrong_thumbprint": lambda: _assertion(info, other_key, thumbprint_of=other_cert),
        "wrong_issuer": lambda: _assertion(info, real_key, issuer=info["apps"]["secret"]["client_id"]),
    }[case]()
    client = EmulatorClient(info, app="certificate")
    response = client.token_response(client_assertion=assertion,
                                     client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    _error(response, 401, 700027)
    good = _assertion(info, real_key)
    response = client.token_response(client_assertion=good,
                                     client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert response.status_code == 200, response.text
