"""The service_account role's README shows each access model with an example that the role accepts."""
from __future__ import annotations

import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "service_account")
# Role variable -> the module whose options it passes on.
OPTIONS_OF = {
    "service_account_fullaccess_options": "o365_mailbox_fullaccess",
    "service_account_ews_options": "o365_ews_access",
    "service_account_app_access_options": "o365_app_mailbox_access",
}
AUTH_OPTIONS = {"tenant", "client_id", "client_secret", "secret", "certificate_path", "certificate_password",
                "access_token", "managed_identity", "cloud", "login_url", "exchange_url", "validate_certs", "ca_path",
                "timeout", "debug_log"}


def role_spec():
    with open(os.path.join(ROLE, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def module_options(name):
    with open(os.path.join(REPO, "plugins", "modules", name + ".py"), encoding="utf-8") as handle:
        source = handle.read()
    documentation = re.search(r"DOCUMENTATION = r'''(.*?)'''", source, flags=re.S).group(1)
    return set(yaml.safe_load(documentation)["options"])


def examples():
    """The role vars of every YAML example in the README."""
    with open(os.path.join(ROLE, "README.md"), encoding="utf-8") as handle:
        blocks = re.findall(r"```yaml\n(.*?)```", handle.read(), flags=re.S)
    found = []
    for block in blocks:
        for play in yaml.safe_load(block):
            for role in play.get("roles", []):
                assert role["role"] == "mimecast_mse.sync_engine.service_account"
                found.append(role.get("vars", {}))
    return found


def test_every_access_model_has_an_example():
    models = {example.get("service_account_access_model", "fullaccess") for example in examples()}
    assert models == set(role_spec()["service_account_access_model"]["choices"])


@pytest.mark.parametrize("index", range(3))
def test_each_example_uses_only_the_role_and_module_options(index):
    example = examples()[index]
    spec = role_spec()
    assert set(example) <= set(spec), set(example) - set(spec)
    for variable, module in OPTIONS_OF.items():
        unknown = set(example.get(variable, {})) - module_options(module)
        assert not unknown, (variable, unknown)
    assert set(example.get("service_account_exchange_options", {})) <= AUTH_OPTIONS
    choices = spec["service_account_access_model"]["choices"]
    assert example.get("service_account_access_model", "fullaccess") in choices


def test_the_scoped_example_names_its_scope():
    """app_rbac without a recipient filter or an administrative unit would reach every mailbox."""
    (scoped,) = [example for example in examples() if example.get("service_account_access_model") == "app_rbac"]
    options = scoped["service_account_app_access_options"]
    assert options.get("recipient_filter") or options.get("admin_unit")
