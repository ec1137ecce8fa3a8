"""When a permission row counts as the trustee's FullAccess grant."""
from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_grants import explicit_grants
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import Trustee

TRUSTEE = Trustee({"UserPrincipalName": "Svc-MSE@contoso.onmicrosoft.com", "PrimarySmtpAddress": "svc-mse@contoso.com",
                   "EmailAddresses": ["SMTP:svc-mse@contoso.com", "smtp:mse@contoso.com"], "Guid": "g-1"})


def row(user, rights=("FullAccess",), deny=False, inherited=False):
    return {"User": user, "AccessRights": list(rights), "Deny": deny, "IsInherited": inherited, "InheritanceType": "All"}


def test_explicit_fullaccess_of_the_trustee_counts_in_any_case_and_alias():
    assert explicit_grants([row("svc-mse@contoso.onmicrosoft.com")], TRUSTEE)
    assert explicit_grants([row("SVC-MSE@CONTOSO.COM")], TRUSTEE)
    assert explicit_grants([row("mse@contoso.com", rights=("FullAccess", "ReadPermission"))], TRUSTEE)


def test_rows_that_do_not_count():
    rows = [
        row("NT AUTHORITY\\SELF", rights=("FullAccess", "ReadPermission")),
        row("Svc-MSE@contoso.onmicrosoft.com", inherited=True),
        row("Svc-MSE@contoso.onmicrosoft.com", deny=True),
        row("Svc-MSE@contoso.onmicrosoft.com", rights=("ReadPermission",)),
        row("Helpdesk Team"),
        row("S-1-5-21-1004336348-1177238915-682003330-512"),
        row("someone.else@contoso.com"),
    ]
    assert explicit_grants(rows, TRUSTEE) == []


def test_string_flags_and_comma_separated_rights():
    assert explicit_grants([{"User": "svc-mse@contoso.com", "AccessRights": "ReadPermission, FullAccess",
                             "Deny": "False", "IsInherited": "False"}], TRUSTEE)
    assert not explicit_grants([{"User": "svc-mse@contoso.com", "AccessRights": "FullAccess",
                                 "Deny": "True", "IsInherited": "False"}], TRUSTEE)


def test_a_group_named_like_the_trustee_alias_is_not_the_trustee():
    trustee = Trustee({"UserPrincipalName": "svc@contoso.com", "PrimarySmtpAddress": "svc@contoso.com", "Alias": "svc",
                       "Name": "svc", "Guid": "g"})
    assert explicit_grants([row("svc")], trustee) == []
