"""Client-side scope: exclude, JMESPath query, the trustee's own mailbox, input checks."""
from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import (
    Scope,
    SelectionError,
    Trustee,
    changed_since_filter,
    check_address,
    compile_query,
    opath_time,
    scope_key,
)

TRUSTEE = Trustee({"UserPrincipalName": "svc@contoso.com", "PrimarySmtpAddress": "svc@contoso.com", "Guid": "g-svc"})


def record(name, guid, department="Sales", **extra):
    data = {"Guid": guid, "PrimarySmtpAddress": "%s@contoso.com" % name, "UserPrincipalName": "%s@contoso.com" % name,
            "Alias": name, "EmailAddresses": ["SMTP:%s@contoso.com" % name, "smtp:%s@old.contoso.com" % name],
            "Department": department, "RecipientTypeDetails": "UserMailbox"}
    data.update(extra)
    return data


def test_exclude_matches_any_address_in_any_case_and_reports_unmatched():
    scope = Scope(["ALICE@OLD.contoso.com", "g-bob", "nobody@contoso.com"], None, TRUSTEE)
    admitted = [scope.admit(r) for r in (record("alice", "g-a"), record("bob", "g-bob"), record("carol", "g-c"))]
    assert [m.address for m in admitted if m] == ["carol@contoso.com"]
    assert (scope.listed, scope.excluded) == (3, 2)
    assert scope.unmatched_excludes == {"nobody@contoso.com"}


def test_query_selects_and_the_trustee_is_never_selected():
    scope = Scope([], "Department == 'Sales'", TRUSTEE)
    admitted = [scope.admit(r) for r in (record("a", "g-a"), record("b", "g-b", department="HR"), record("svc", "g-svc"))]
    assert [m.identity for m in admitted if m] == ["g-a"]
    assert scope.excluded == 2


def test_bad_query_and_bad_address_fail_with_a_fix():
    with pytest.raises(SelectionError, match="not a valid JMESPath"):
        compile_query("Department ==")
    with pytest.raises(SelectionError, match="user@domain"):
        check_address("user", "svc-mse")
    check_address("user", "svc@contoso.com")


def test_incremental_filter_uses_the_documented_en_us_date_form_and_keeps_the_users_filter():
    assert opath_time(1501596000) == "8/1/2017 2:00:00 PM"  # filter-properties.md's example
    assert opath_time(1501545600) == "8/1/2017 12:00:00 AM"
    assert changed_since_filter(None, 1501596000) == \
        "(WhenChangedUTC -gt '8/1/2017 2:00:00 PM') -or (WhenCreatedUTC -gt '8/1/2017 2:00:00 PM')"
    assert changed_since_filter("Department -eq 'Sales'", 1501596000).startswith("(Department -eq 'Sales') -and (")


def test_scope_key_changes_with_every_scope_option_but_not_with_case_or_order():
    base = {"recipient_type_details": ["UserMailbox", "SharedMailbox"], "filter": None, "query": None,
            "exclude": ["a@contoso.com", "B@contoso.com"]}
    assert scope_key(base) == scope_key(dict(base, recipient_type_details=["sharedmailbox", "UserMailbox"],
                                             exclude=["b@contoso.com", "A@contoso.com"]))
    for change in ({"filter": "Department -eq 'Sales'"}, {"query": "Alias"}, {"exclude": []},
                   {"recipient_type_details": None}):
        assert scope_key(dict(base, **change)) != scope_key(base)
