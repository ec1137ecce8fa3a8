"""The EWS allow list arithmetic: only our entries change, the list is written whole, read back."""
from __future__ import annotations

import os
import stat
import tempfile

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import CmdletResult
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import (
    EwsPolicy,
    EwsPolicyError,
    check_app_ids,
    desired_policy,
    effective_access,
    narrowing_error,
    parse_allow_list,
    policy_warnings,
    read_policy,
    set_parameters,
    tenant_lock,
    vanished,
)

OURS = "933cd1fb-b19e-593d-bb75-a749a8395603"
OTHER = "C4E0403C-7F83-5F8C-A789-3E79D99B1DA2"  # another app's entry, stored in upper case


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
    assert set_parameters(current, desired) == {"EwsAllowedAppIDs": "%s,%s" % (OTHER.lower(), OURS), "EwsEnabled": True}


def test_present_is_idempotent_whatever_case_the_list_uses():
    current = EwsPolicy(True, [OTHER, OURS.upper()])
    assert set_parameters(current, desired_policy(current, [OURS], "present")) == {}


def test_absent_removes_only_ours_and_never_touches_enabled():
    for enabled in (True, False, None):
        current = EwsPolicy(enabled, [OURS.upper(), OTHER])
        desired = desired_policy(current, [OURS], "absent")
        assert set_parameters(current, desired) == {"EwsAllowedAppIDs": OTHER.lower()}
    last = EwsPolicy(True, [OURS])
    assert set_parameters(last, desired_policy(last, [OURS], "absent")) == {"EwsAllowedAppIDs": None}
    absent_already = EwsPolicy(True, [OTHER])
    assert set_parameters(absent_already, desired_policy(absent_already, [OURS], "absent")) == {}


def test_whether_an_app_may_use_ews():
    assert effective_access(EwsPolicy(True, [OTHER]), [OURS, OTHER.lower()]) == {OURS: False, OTHER.lower(): True}
    assert effective_access(EwsPolicy(False, [OURS]), [OURS]) == {OURS: False}
    assert effective_access(EwsPolicy(None, [OURS]), [OURS]) == {OURS: None}


def test_policies_compare_as_sets_of_canonical_guids():
    assert EwsPolicy(True, [OTHER, OURS]) == EwsPolicy(True, [OURS.upper(), "{%s}" % OTHER.lower()])
    assert EwsPolicy(True, [OTHER]) != EwsPolicy(True, [OTHER, OURS])
    assert set_parameters(EwsPolicy(True, [OTHER, OURS]), EwsPolicy(True, [OURS.upper(), OTHER])) == {}


def test_holds_checks_our_entries_and_ews_enabled_not_equality():
    assert EwsPolicy(True, [OTHER, OURS, "0b1d5a52-3a4b-4c1a-9d0e-6f2d8a9b7c61"]).holds([OURS], "present")
    assert not EwsPolicy(None, [OURS]).holds([OURS], "present")
    assert not EwsPolicy(True, [OTHER]).holds([OURS], "present")
    assert EwsPolicy(True, [OTHER]).holds([OURS], "absent") and not EwsPolicy(True, [OURS.upper()]).holds([OURS], "absent")


@pytest.mark.parametrize("before, narrows", [
    (EwsPolicy(True, []), True),       # empty list with EwsEnabled true: every app may use EWS
    (EwsPolicy(None, []), True),       # not configured: the list has no effect
    (EwsPolicy(None, [OTHER]), True),
    (EwsPolicy(True, [OTHER]), False),  # already "only the listed apps"
    (EwsPolicy(False, []), False),      # no app may use EWS: enabling for ours widens
])
def test_narrowing_from_every_app_to_the_listed_ones_is_named(before, narrows):
    problem = narrowing_error(before, desired_policy(before, [OURS], "present"))
    assert bool(problem) is narrows
    if narrows:
        assert "ONLY those apps" in problem and "restrict_to_listed_apps" in problem and "X-EWS-Policy-Reason" in problem


def test_entries_of_others_that_vanished_are_named_not_ours():
    third = "0b1d5a52-3a4b-4c1a-9d0e-6f2d8a9b7c61"
    assert vanished(EwsPolicy(True, [OTHER, third, OURS]), EwsPolicy(True, [third.upper()]), [OURS]) == [OTHER]


def test_warnings_name_what_the_change_means():
    warnings = policy_warnings(EwsPolicy(None, [OTHER]), EwsPolicy(True, [OTHER, OURS]), [OURS])
    assert len(warnings) == 1 and "only the apps in EwsAllowedAppIDs" in warnings[0] and OTHER in warnings[0]
    assert any("every app may use EWS again" in w
               for w in policy_warnings(EwsPolicy(True, [OURS]), EwsPolicy(True, []), [OURS]))
    assert policy_warnings(EwsPolicy(True, [OTHER]), EwsPolicy(True, [OTHER, OURS]), [OURS]) == []


def test_the_tenant_lock_serialises_runs_and_is_a_private_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with tenant_lock("00000000-0000-0000-0000-0000000000aa") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(EwsPolicyError, match="another run on this control node"):
            with tenant_lock("00000000-0000-0000-0000-0000000000AA", wait=0.2, sleep=lambda _seconds: None):
                pass
        with tenant_lock("00000000-0000-0000-0000-0000000000bb", wait=0.2):
            pass  # another tenant is not held up
    with tenant_lock("00000000-0000-0000-0000-0000000000aa", wait=0.2):
        pass  # released


def test_the_tenant_lock_refuses_a_planted_symlink(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with tenant_lock("00000000-0000-0000-0000-0000000000cc") as path:
        pass
    os.remove(path)
    target = tmp_path / "victim"
    target.write_text("keep")
    os.symlink(str(target), path)
    with pytest.raises(EwsPolicyError, match="symlink"):
        with tenant_lock("00000000-0000-0000-0000-0000000000cc", wait=0.2):
            pass
    assert target.read_text() == "keep"


class _Answers:
    """Get-OrganizationConfig answers as given (only the parsing of read_policy is under test here)."""

    def __init__(self, enabled, allowed):
        self.records = {False: {"EwsEnabled": enabled}, True: {"EwsAllowedAppIDs": allowed}}

    def invoke(self, cmdlet, parameters):
        assert cmdlet == "Get-OrganizationConfig"
        return CmdletResult([self.records[bool(parameters.get("RetrieveEwsOperationAccessPolicy"))]], [])


@pytest.mark.parametrize("enabled, allowed, text", [
    ("Sometimes", None, "EwsEnabled='Sometimes'"),
    (True, {"ids": [OURS]}, "of type dict"),
])
def test_a_policy_of_an_unknown_shape_fails_instead_of_reading_as_not_configured(enabled, allowed, text):
    with pytest.raises(EwsPolicyError, match=text):
        read_policy(_Answers(enabled, allowed))
    assert read_policy(_Answers("True", [OTHER + "," + OURS])).holds([OURS], "present")
