"""Client-side scope: exclude, JMESPath query, the trustee's own mailbox, input checks."""
from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import (
    Scope,
    SelectionError,
    Trustee,
    check_address,
    compile_query,
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
