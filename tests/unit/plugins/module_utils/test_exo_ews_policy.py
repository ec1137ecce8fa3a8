"""The EWS allow list arithmetic: only our entries change, the list is written whole, read back."""
from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import CmdletResult
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import (
    EwsPolicy,
    EwsPolicyError,
    apply_policy,
    check_app_ids,
    desired_policy,
    effective_access,
    parse_allow_list,
    policy_warnings,
    read_policy,
    set_parameters,
)

OURS = "933cd1fb-b19e-593d-bb75-a749a8395603"
OTHER = "C4E0403C-7F83-5F8C-A789-3E79D99B1DA2"  # another app's entry, stored in upper case


class FakeOrg:
    """Get/Set-OrganizationConfig over a stored (enabled, list string); ``keep`` = False drops writes."""

    def __init__(self, enabled, allowed, keep=True):
        self.enabled = enabled
        self.allowed = allowed
        self.keep = keep
        self.calls = []

    def invoke(self, cmdlet, parameters):
        self.calls.append((cmdlet, dict(parameters)))
        if cmdlet == "Get-OrganizationConfig":
            record = {"EwsEnabled": self.enabled, "EwsAllowedAppIDs": None}
            if parameters.get("RetrieveEwsOperationAccessPolicy"):
                record["EwsAllowedAppIDs"] = self.allowed
            return CmdletResult([record], [])
        assert cmdlet == "Set-OrganizationConfig"
        if self.keep:
            self.enabled = parameters.get("EwsEnabled", self.enabled)
            self.allowed = parameters.get("EwsAllowedAppIDs", self.allowed)
        return CmdletResult([], [])

    def writes(self):
        return [parameters for cmdlet, parameters in self.calls if cmdlet.startswith("Set-")]


def test_app_ids_are_canonical_guids_and_bad_ones_fail_with_the_fix():
    assert check_app_ids("app_ids", [OURS.upper(), "{%s}" % OURS, OTHER]) == [OURS, OTHER.lower()]
    with pytest.raises(EwsPolicyError, match="not: mse-app, 1234"):
        check_app_ids("app_ids", [OURS, "mse-app", "1234"])
    with pytest.raises(EwsPolicyError, match="empty"):
        check_app_ids("app_ids", [])


def test_the_list_reads_from_a_string_or_a_list():
    assert parse_allow_list(" %s , %s ," % (OTHER, OURS)) == [OTHER, OURS]
    assert parse_allow_list([OTHER, " "]) == [OTHER]
    assert parse_allow_list(None) == [] and parse_allow_list("") == []


def test_an_array_element_holding_the_comma_joined_list_is_split():
    """The shape a field report saw with -RetrieveEwsOperationAccessPolicy: ONE element, three IDs."""
    third = "0b1d5a52-3a4b-4c1a-9d0e-6f2d8a9b7c61"
    assert parse_allow_list(["%s,%s, %s" % (OTHER, OURS, third)]) == [OTHER, OURS, third]
    assert parse_allow_list(["%s,%s" % (OTHER, OURS), third]) == [OTHER, OURS, third]


def test_present_appends_ours_and_keeps_other_entries_as_stored():
    current = EwsPolicy(None, [OTHER])
    desired = desired_policy(current, [OURS], "present")
    assert desired.as_dict() == {"ews_enabled": True, "ews_allowed_app_ids": [OTHER, OURS]}
    assert set_parameters(current, desired) == {"EwsAllowedAppIDs": "%s,%s" % (OTHER, OURS), "EwsEnabled": True}


def test_present_is_idempotent_whatever_case_the_list_uses():
    current = EwsPolicy(True, [OTHER, OURS.upper()])
    assert set_parameters(current, desired_policy(current, [OURS], "present")) == {}


def test_absent_removes_only_ours_and_never_touches_enabled():
    for enabled in (True, False, None):
        current = EwsPolicy(enabled, [OURS.upper(), OTHER])
        desired = desired_policy(current, [OURS], "absent")
        assert set_parameters(current, desired) == {"EwsAllowedAppIDs": OTHER}
    last = EwsPolicy(True, [OURS])
    assert set_parameters(last, desired_policy(last, [OURS], "absent")) == {"EwsAllowedAppIDs": None}
    absent_already = EwsPolicy(True, [OTHER])
    assert set_parameters(absent_already, desired_policy(absent_already, [OURS], "absent")) == {}


def test_whether_an_app_may_use_ews():
    assert effective_access(EwsPolicy(True, [OTHER]), [OURS, OTHER.lower()]) == {OURS: False, OTHER.lower(): True}
    assert effective_access(EwsPolicy(False, [OURS]), [OURS]) == {OURS: False}
    assert effective_access(EwsPolicy(None, [OURS]), [OURS]) == {OURS: None}


def test_apply_writes_once_and_reads_back():
    tenant = FakeOrg(None, OTHER)
    before = read_policy(tenant)
    assert before.as_dict() == {"ews_enabled": None, "ews_allowed_app_ids": [OTHER]}
    after = apply_policy(tenant, before, desired_policy(before, [OURS], "present"))
    assert tenant.writes() == [{"EwsAllowedAppIDs": "%s,%s" % (OTHER, OURS), "EwsEnabled": True}]
    assert after.enabled is True and after.lists(OURS) and after.lists(OTHER.lower())


def test_a_change_exchange_did_not_keep_is_an_error():
    tenant = FakeOrg(None, OTHER, keep=False)
    before = read_policy(tenant)
    with pytest.raises(EwsPolicyError, match="reads back"):
        apply_policy(tenant, before, desired_policy(before, [OURS], "present"))


def test_warnings_name_what_the_change_means():
    warnings = policy_warnings(EwsPolicy(None, [OTHER]), EwsPolicy(True, [OTHER, OURS]), [OURS])
    assert len(warnings) == 1 and "only the apps in EwsAllowedAppIDs" in warnings[0] and OTHER in warnings[0]
    assert any("no app can use EWS" in w for w in policy_warnings(EwsPolicy(True, [OURS]), EwsPolicy(True, []), [OURS]))
    assert policy_warnings(EwsPolicy(True, [OTHER]), EwsPolicy(True, [OTHER, OURS]), [OURS]) == []
