# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exo_auth without a network: options, environment variables, input checks, certificates, tenant IDs."""

from __future__ import annotations

import base64
import datetime
import json
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.mimecast_mse.sync_engine.plugins.doc_fragments.exo_auth import ModuleDocFragment
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils import exo_auth
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    AUTH_ARGUMENT_SPEC,
    AUTH_MUTUALLY_EXCLUSIVE,
    ENVIRONMENT,
    AuthError,
    apply_environment,
    StaticTokenProvider,
    build_token_provider,
    certificate_credential,
    check_auth_params,
    redact,
    token_tenant_id,
)

TENANT_ID = "0b9a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLIENT_ID = "6a4b1f0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
ENV_NAMES = ("AZURE_TENANT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_CLIENT_SECRET",
             "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
             "AZURE_CERTIFICATE_PASSWORD", "AZURE_CLOUD_ENVIRONMENT")


def auth_params(**overrides):
    """Module parameters as AnsibleModule hands them over (defaults filled in)."""
    params = {name: spec.get("default") for name, spec in AUTH_ARGUMENT_SPEC.items()}
    params.update(overrides)
    return params


def fake_token(claims):
    """An unsigned JWT with these claims (the module never checks signatures)."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return "%s.%s.c2lnbmF0dXJl" % (part({"alg": "RS256", "typ": "JWT"}), part(claims))


class NoNetwork:
    """An HTTP client that fails the test when anything is sent."""

    def __init__(self):
        self.calls = []

    def get(self, url, **kwargs):
        """Record and refuse."""
        self.calls.append(("GET", url, kwargs))
        raise AssertionError("no request may be sent")

    post = get


# -- environment variables ---------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    """No AZURE_* variable of the test runner leaks into a test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class Validated:
    """What ExoModule ends up with: the validated parameters, or the error messages."""

    def __init__(self, validated_parameters, error_messages):
        self.validated_parameters = validated_parameters
        self.error_messages = error_messages


def validate(params):
    """Validate as ExoModule does (fallbacks, mutually exclusive, then the environment's credential)."""
    validator = ArgumentSpecValidator(AUTH_ARGUMENT_SPEC, mutually_exclusive=AUTH_MUTUALLY_EXCLUSIVE)
    result = validator.validate(params)
    if result.error_messages:
        return Validated(result.validated_parameters, result.error_messages)
    try:
        apply_environment(result.validated_parameters)
    except AuthError as exc:
        return Validated(result.validated_parameters, [str(exc)])
    return Validated(result.validated_parameters, [])


def test_azure_identity_environment_variables_are_read(clean_env):
    clean_env.setenv("AZURE_TENANT_ID", TENANT_ID)
    clean_env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    clean_env.setenv("AZURE_CLIENT_SECRET", "s3cr3t-from-azure-identity")
    result = validate({})
    assert not result.error_messages
    assert result.validated_parameters["tenant"] == TENANT_ID
    assert result.validated_parameters["client_id"] == CLIENT_ID
    assert result.validated_parameters["client_secret"] == "s3cr3t-from-azure-identity"


def test_awx_credential_variables_are_read_and_win(clean_env):
    clean_env.setenv("AZURE_TENANT", "contoso.onmicrosoft.com")
    clean_env.setenv("AZURE_TENANT_ID", TENANT_ID)
    clean_env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    clean_env.setenv("AZURE_SECRET", "awx-secret")
    clean_env.setenv("AZURE_CLIENT_SECRET", "other-secret")
    result = validate({})
    assert not result.error_messages
    assert result.validated_parameters["tenant"] == "contoso.onmicrosoft.com"
    assert result.validated_parameters["client_secret"] == "awx-secret"


@pytest.mark.parametrize("path_var, password_var", [
    ("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
    ("AZURE_CERTIFICATE_PATH", "AZURE_CERTIFICATE_PASSWORD"),
])
def test_certificate_variables_current_and_older_names(clean_env, path_var, password_var):
    clean_env.setenv("AZURE_TENANT_ID", TENANT_ID)
    clean_env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    clean_env.setenv(path_var, "/etc/ssl/private/app.pem")
    clean_env.setenv(password_var, "pem-password")
    result = validate({})
    assert not result.error_messages
    assert result.validated_parameters["certificate_path"] == "/etc/ssl/private/app.pem"
    assert result.validated_parameters["certificate_password"] == "pem-password"


def test_managed_identity_alone_is_enough_and_excludes_other_credentials(clean_env):
    result = validate({"tenant": TENANT_ID, "managed_identity": "system"})
    assert not result.error_messages
    result = validate({"tenant": TENANT_ID, "managed_identity": "system", "client_secret": "x"})
    assert any("mutually exclusive" in message for message in result.error_messages)


@pytest.mark.parametrize("credential", [
    {"certificate_path": "/etc/ssl/private/task.pem"},
    {"managed_identity": "system"},
    {"access_token": "eyJ0eXAi.eyJ0aWQi.c2ln"},
    {"client_secret": "task-secret"},
    {"secret": "task-secret"},
])
def test_a_credential_in_the_task_wins_over_the_environment(clean_env, credential):
    # AWX's Azure credential puts AZURE_SECRET (and a certificate, for azure-identity) in the environment.
    clean_env.setenv("AZURE_SECRET", "awx-secret")
    clean_env.setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/etc/ssl/private/env.pem")
    clean_env.setenv("AZURE_TENANT", "fabrikam.onmicrosoft.com")
    clean_env.setenv("AZURE_CLIENT_ID", "env-client")
    result = validate(dict(credential, tenant=TENANT_ID, client_id=CLIENT_ID))
    assert not result.error_messages
    params = result.validated_parameters
    assert params["tenant"] == TENANT_ID and params["client_id"] == CLIENT_ID
    given = {"secret": "client_secret"}.get(next(iter(credential)), next(iter(credential)))
    assert params[given] == next(iter(credential.values()))
    for other in set(("client_secret", "certificate_path", "access_token", "managed_identity")) - {given}:
        assert not params.get(other), other


def test_environment_secret_before_environment_certificate(clean_env):
    clean_env.setenv("AZURE_CLIENT_CERTIFICATE_PATH", "~/app.pem")
    result = validate({"tenant": TENANT_ID, "client_id": CLIENT_ID})
    assert result.validated_parameters["certificate_path"].endswith("/app.pem")
    assert not result.validated_parameters["certificate_path"].startswith("~")
    clean_env.setenv("AZURE_CLIENT_SECRET", "env-secret")
    result = validate({"tenant": TENANT_ID, "client_id": CLIENT_ID})
    assert result.validated_parameters["client_secret"] == "env-secret"
    assert not result.validated_parameters["certificate_path"]


@pytest.mark.parametrize("name, cloud", [("AzureCloud", "commercial"), ("AzureUSGovernment", "gcc_high"),
                                         ("AzureChinaCloud", "china"), (None, "commercial")])
def test_cloud_from_awx_azure_credential(clean_env, name, cloud):
    if name:
        clean_env.setenv("AZURE_CLOUD_ENVIRONMENT", name)
    result = validate({"tenant": TENANT_ID, "managed_identity": "system"})
    assert not result.error_messages
    assert result.validated_parameters["cloud"] == cloud


def test_cloud_in_the_task_wins_and_an_unknown_cloud_name_is_refused(clean_env):
    clean_env.setenv("AZURE_CLOUD_ENVIRONMENT", "AzureGermanCloud")
    assert validate({"tenant": TENANT_ID, "managed_identity": "system", "cloud": "dod"}).validated_parameters["cloud"] == "dod"
    result = validate({"tenant": TENANT_ID, "managed_identity": "system"})
    assert any("AZURE_CLOUD_ENVIRONMENT" in message and "AzureGermanCloud" in message for message in result.error_messages)


def test_two_credentials_in_the_task_are_still_refused(clean_env):
    result = validate({"tenant": TENANT_ID, "client_id": CLIENT_ID, "secret": "x", "certificate_path": "/a.pem"})
    assert any("mutually exclusive" in message for message in result.error_messages)


def test_without_any_credential_the_options_are_named(clean_env):
    result = validate({"tenant": TENANT_ID})
    assert any("managed_identity" in message and "client_secret" in message for message in result.error_messages)


def _fragment_options():
    return yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]


def test_fragment_documents_every_environment_variable_of_each_option():
    for name, option in _fragment_options().items():
        text = " ".join(option["description"])
        documented = set(re.findall(r"E\((AZURE_[A-Z_]+)\)", text))
        own = set(ENVIRONMENT.get(name, ()))
        # client_secret's description says which variables apply when no credential is given.
        if name == "client_secret":
            own |= set(ENVIRONMENT["certificate_path"]) & documented
        assert documented == own, name


def test_fragment_matches_the_argument_spec():
    options = _fragment_options()
    assert set(options) == set(AUTH_ARGUMENT_SPEC)
    for name, spec in AUTH_ARGUMENT_SPEC.items():
        doc = options[name]
        assert doc.get("type", "str") == spec.get("type", "str"), name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert bool(doc.get("required")) == bool(spec.get("required")), name
        assert doc.get("aliases") == spec.get("aliases"), name


# -- input checks --------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", [TENANT_ID, TENANT_ID.upper(), "contoso.onmicrosoft.com", "contoso.com",
                                    "mail.contoso.co.uk", "xn--bcher-kva.example"])
def test_good_tenants_pass(tenant):
    check_auth_params(auth_params(tenant=tenant, client_id=CLIENT_ID, client_secret="x"))


@pytest.mark.parametrize("tenant", ["", "contoso", "common", "https://login.microsoftonline.com/contoso.onmicrosoft.com",
                                    "contoso.onmicrosoft.com/", "contoso .com", "-contoso.com", "contoso.123",
                                    TENANT_ID[:-1], TENANT_ID + "0"])
def test_bad_tenant_is_refused_before_any_request(tenant):
    network = NoNetwork()
    params = auth_params(tenant=tenant, client_id=CLIENT_ID, client_secret="x")
    with pytest.raises(AuthError, match="neither a tenant ID") as caught:
        build_token_provider(params, "https://login.microsoftonline.com", "https://outlook.office365.com", False, network)
    assert "contoso.onmicrosoft.com" in str(caught.value)  # the message shows what a good value looks like
    assert not network.calls


@pytest.mark.parametrize("timeout", [0, -5, 3601, 10 ** 12])
def test_timeout_outside_one_second_to_an_hour_is_refused(timeout):
    with pytest.raises(AuthError, match="between 1 and 3600"):
        check_auth_params(auth_params(tenant=TENANT_ID, client_id=CLIENT_ID, client_secret="x", timeout=timeout))


@pytest.mark.parametrize("timeout", [1, 60, 3600])
def test_timeout_within_range_passes(timeout):
    check_auth_params(auth_params(tenant=TENANT_ID, client_id=CLIENT_ID, client_secret="x", timeout=timeout))


@pytest.mark.parametrize("value", ["system", "System", CLIENT_ID])
def test_managed_identity_system_or_client_id_passes_without_client_id(value):
    check_auth_params(auth_params(tenant=TENANT_ID, managed_identity=value))


@pytest.mark.parametrize("value", ["user", "/subscriptions/x/resourceGroups/y", "mi-name"])
def test_managed_identity_other_values_are_refused(value):
    with pytest.raises(AuthError, match="'system'.*client ID"):
        check_auth_params(auth_params(tenant=TENANT_ID, managed_identity=value))


def test_ca_path_without_a_certificate_is_refused(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    with pytest.raises(AuthError, match="holds no PEM certificate"):
        check_auth_params(auth_params(tenant=TENANT_ID, client_id=CLIENT_ID, client_secret="x", ca_path=str(bundle)))


# -- certificates ----------------------------------------------------------------------------

def _key_and_cert():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="module")
def key_and_cert():
    """One EC key and self-signed certificate for the certificate tests."""
    return _key_and_cert()


def _pem_file(tmp_path, key, cert, password=None):
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    path = tmp_path / "app.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
                     + cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _pfx_file(tmp_path, key, cert, password):
    path = tmp_path / "app.pfx"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"app", key, cert, None,
                                                           serialization.BestAvailableEncryption(password.encode())))
    return str(path)


@pytest.mark.parametrize("password", [None, "not-the-password"])
def test_encrypted_pem_without_or_with_wrong_password_is_one_clear_error(tmp_path, key_and_cert, password):
    path = _pem_file(tmp_path, *key_and_cert, password="right-password")
    with pytest.raises(AuthError) as caught:
        certificate_credential(path, password)
    message = str(caught.value)
    assert "encrypted and certificate_password is missing or wrong" in message and path in message
    assert "right-password" not in message and "not-the-password" not in message


def test_encrypted_pem_with_its_password_is_handed_to_msal(tmp_path, key_and_cert):
    path = _pem_file(tmp_path, *key_and_cert, password="right-password")
    credential = certificate_credential(path, "right-password")
    assert credential["passphrase"] == "right-password"
    assert "ENCRYPTED PRIVATE KEY" in credential["private_key"]


def test_password_for_a_plain_pem_is_not_handed_to_msal(tmp_path, key_and_cert):
    # e.g. AZURE_CLIENT_CERTIFICATE_PASSWORD set for another tool: MSAL would fail on it.
    credential = certificate_credential(_pem_file(tmp_path, *key_and_cert), "stray-password")
    assert "passphrase" not in credential


@pytest.mark.parametrize("password", [None, "not-the-password"])
def test_pfx_with_wrong_or_missing_password_is_one_clear_error(tmp_path, key_and_cert, password):
    path = _pfx_file(tmp_path, *key_and_cert, password="pfx-password")
    with pytest.raises(AuthError, match="certificate_password is missing or wrong") as caught:
        certificate_credential(path, password)
    assert "pfx-password" not in str(caught.value)


def test_pfx_with_its_password(tmp_path, key_and_cert):
    path = _pfx_file(tmp_path, *key_and_cert, password="pfx-password")
    assert certificate_credential(path, "pfx-password") == {"private_key_pfx_path": path, "passphrase": "pfx-password"}


def test_pem_credential_names_its_certificate_for_msal_before_1_35(tmp_path, key_and_cert, monkeypatch):
    # MSAL 1.29 to 1.34 refuse a PEM credential without a thumbprint; 1.35 computes its own.
    monkeypatch.setattr(exo_auth, "MSAL_COMPUTES_THUMBPRINT", False)
    credential = certificate_credential(_pem_file(tmp_path, *key_and_cert))
    assert credential["thumbprint"] == key_and_cert[1].fingerprint(hashes.SHA1()).hex().upper()
    monkeypatch.setattr(exo_auth, "MSAL_COMPUTES_THUMBPRINT", True)
    assert "thumbprint" not in certificate_credential(_pem_file(tmp_path, *key_and_cert))


@pytest.mark.parametrize("version, computes", [("1.29.0", False), ("1.34.0", False), ("1.35.0", True), ("1.39.0", True),
                                               ("2.0.0b1", True)])
def test_msal_versions_that_compute_the_thumbprint(version, computes):
    assert (exo_auth._version_tuple(version) >= (1, 35)) is computes  # pylint: disable=protected-access


def test_damaged_pem_key_is_named(tmp_path, key_and_cert):
    path = tmp_path / "app.pem"
    cert_pem = key_and_cert[1].public_bytes(serialization.Encoding.PEM).decode()
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + cert_pem)
    with pytest.raises(AuthError, match="cannot be read: it is damaged"):
        certificate_credential(str(path))


# -- tenant ID from a token --------------------------------------------------------------

def test_tid_claim_is_read_without_verification():
    assert token_tenant_id(fake_token({"tid": TENANT_ID.upper(), "aud": "https://outlook.office365.com"})) == TENANT_ID
    assert token_tenant_id(fake_token({"aud": "x"})) is None
    assert token_tenant_id(fake_token({"tid": "contoso.onmicrosoft.com"})) is None
    assert token_tenant_id("not-a-jwt") is None
    assert token_tenant_id("a.%%%.c") is None


def test_given_access_token_tenant_from_tid_or_from_a_guid_tenant():
    assert StaticTokenProvider(fake_token({"tid": TENANT_ID}), "contoso.onmicrosoft.com").tenant_id() == TENANT_ID
    assert StaticTokenProvider(fake_token({}), TENANT_ID.upper()).tenant_id() == TENANT_ID


def test_given_access_token_without_tid_and_a_domain_tenant_is_an_error():
    token = fake_token({"aud": "https://outlook.office365.com"})
    with pytest.raises(AuthError, match="no tenant ID") as caught:
        StaticTokenProvider(token, "contoso.onmicrosoft.com").tenant_id()
    assert token not in str(caught.value)


def test_given_access_token_for_another_tenant_is_an_error():
    other = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(AuthError, match="is for tenant %s" % other):
        StaticTokenProvider(fake_token({"tid": other}), TENANT_ID).tenant_id()


def test_redact_hides_secrets_and_any_jwt():
    token = fake_token({"tid": TENANT_ID})
    text = redact("secret=hunter2hunter2 token=%s done" % token, ["hunter2hunter2"])
    assert "hunter2hunter2" not in text and token not in text and "done" in text
