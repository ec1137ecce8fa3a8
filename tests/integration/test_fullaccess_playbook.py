"""o365_mailbox_fullaccess through ansible-playbook against the Exchange Online emulator.

Each test starts from the emulator's seeded tenant (250 mailboxes of mixed types, the
service account svc-mse with its UPN stored in mixed case, a mail user without mailbox).
"""
from __future__ import annotations

import threading
import time

import pytest

from emulator.client import EmulatorClient
from playbook import connection_args, run_module  # pylint: disable=import-error

WRITES = ("Add-MailboxPermission", "Remove-MailboxPermission")


def grants_of(exo, identity, user):
    """The trustee's explicit FullAccess rows on a mailbox, from the emulator's control API."""
    rows = exo.control.acl(identity)["acl"]
    return [row for row in rows if str(row["User"]).lower() == user.lower()
            and "FullAccess" in row["AccessRights"] and not row.get("Deny") and not row.get("IsInherited")]


def base_args(exo, app="secret", **extra):
    args = connection_args(exo.info, app)
    args["user"] = exo.info["service_account"]
    args.update(extra)
    return args


def writes(exo):
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    return {name: by_cmdlet[name] for name in WRITES if by_cmdlet.get(name)}


def listing(exo, **parameters):
    """What Get-Mailbox returns for these parameters, straight from the emulator."""
    client = EmulatorClient(exo.info)
    parameters.setdefault("ResultSize", "Unlimited")
    return client.list_all("Get-Mailbox", parameters)[0]


def others(exo, **parameters):
    """Addresses of listed mailboxes other than the trustee's own."""
    trustee = exo.info["service_account"].lower()
    return [row["PrimarySmtpAddress"] for row in listing(exo, **parameters) if row["UserPrincipalName"].lower() != trustee]


def assert_converged(exo, tmp_path, **args):
    """A check-mode run finds nothing left to change."""
    check = run_module(tmp_path, base_args(exo, **args), check=True)
    assert check.returncode == 0, check
    assert check.result["counts"]["changed"] == 0, check


# -- the main path -----------------------------------------------------------------------

def test_first_run_grants_every_mailbox_and_second_run_changes_nothing(exo, tmp_path):
    first = run_module(tmp_path, base_args(exo))
    assert first.returncode == 0, first
    counts = first.result["counts"]
    assert first.result["changed"] is True
    assert counts["failed"] == 0 and first.result["failed_mailboxes"] == []
    assert counts["listed"] == len(listing(exo))
    assert counts["selected"] == counts["listed"] - counts["excluded"]
    assert counts["changed"] + counts["unchanged"] == counts["selected"]
    assert counts["excluded"] == 1  # the trustee's own mailbox
    sample = first.result["changed_mailboxes"][0]
    rows = grants_of(exo, sample, exo.info["service_account"])
    assert len(rows) == 1
    assert rows[0]["AutoMapping"] is False and rows[0]["InheritanceType"] == "All"

    exo.control.reset_stats()
    second = run_module(tmp_path, base_args(exo))
    assert second.returncode == 0, second
    assert second.result["changed"] is False
    assert second.result["counts"]["changed"] == 0
    assert second.result["counts"]["unchanged"] == counts["selected"]
    assert writes(exo) == {}
    # the re-run costs the listing and one read per mailbox, batched by ten
    assert second.result["requests"]["by_cmdlet"]["Get-MailboxPermission"] == counts["selected"]
    assert second.result["requests"]["batches"] <= counts["selected"] // 10 + 10


def test_check_mode_writes_nothing_and_diff_names_each_mailbox(exo, tmp_path):
    first_two = others(exo)[:2]
    for address in first_two:
        exo.control.grant(address, exo.info["service_account_stored"])
    run = run_module(tmp_path, base_args(exo, report_limit=5), check=True, diff=True)
    assert run.returncode == 0, run
    assert run.result["changed"] is True
    assert writes(exo) == {}
    counts = run.result["counts"]
    assert counts["unchanged"] == 2 and counts["changed"] == counts["selected"] - 2
    assert len(run.result["changed_mailboxes"]) == 5 and run.result["changed_mailboxes_truncated"] is True
    diff = run.result["diff"]
    for address in run.result["changed_mailboxes"]:
        assert "%s: no FullAccess" % address in diff["before"]
        assert "%s: FullAccess" % address in diff["after"]
    assert "more mailboxes" in diff["after"]
    assert "would be granted" in run.result["msg"]
    assert not grants_of(exo, run.result["changed_mailboxes"][0], exo.info["service_account"])


def test_revoke_everywhere_then_nothing_left(exo, tmp_path):
    granted = others(exo)[:7]
    for address in granted:
        exo.control.grant(address, exo.info["service_account_stored"])
    run = run_module(tmp_path, base_args(exo, state="absent"))
    assert run.returncode == 0, run
    assert sorted(run.result["changed_mailboxes"]) == sorted(granted)
    assert writes(exo) == {"Remove-MailboxPermission": 7}
    assert all(not grants_of(exo, address, exo.info["service_account"]) for address in granted)
    again = run_module(tmp_path, base_args(exo, state="absent"))
    assert again.returncode == 0 and again.result["changed"] is False


# -- scope -----------------------------------------------------------------------------

def test_onboarding_list_touches_only_the_new_mailboxes(exo, tmp_path):
    new = exo.control.add_mailboxes(count=3)
    addresses = [record["PrimarySmtpAddress"] for record in new]
    run = run_module(tmp_path, base_args(exo, mailboxes=[address.upper() for address in addresses]))
    assert run.returncode == 0, run
    assert sorted(run.result["changed_mailboxes"]) == sorted(addresses)
    by_cmdlet = run.result["requests"]["by_cmdlet"]
    assert by_cmdlet["Get-MailboxPermission"] == 3 and by_cmdlet["Add-MailboxPermission"] == 3
    assert by_cmdlet["Get-Mailbox"] == 4  # the trustee and the three mailboxes; no listing


def test_unknown_mailbox_in_the_list_fails_before_any_change(exo, tmp_path):
    known = others(exo)[0]
    run = run_module(tmp_path, base_args(exo, mailboxes=[known, "ghost@contoso.onmicrosoft.com"]))
    assert run.returncode != 0
    assert "ghost@contoso.onmicrosoft.com" in run.result["msg"] and "Nothing was changed" in run.result["msg"]
    assert writes(exo) == {}


def test_server_side_type_and_opath_filter_with_exclude_and_query(exo, tmp_path):
    shared = listing(exo, RecipientTypeDetails=["SharedMailbox"])
    run = run_module(tmp_path, base_args(exo, recipient_type_details=["SharedMailbox"]), check=True)
    assert run.returncode == 0, run
    assert run.result["counts"]["listed"] == len(shared) > 0

    sales = listing(exo, Filter="Department -eq 'Sales'")
    excluded = sales[0]["Alias"]
    run = run_module(tmp_path, base_args(exo, filter="Department -eq 'Sales'", exclude=[excluded.upper()],
                                         query="RecipientTypeDetails == 'UserMailbox'"))
    assert run.returncode == 0, run
    expected = {row["PrimarySmtpAddress"] for row in sales
                if row["RecipientTypeDetails"] == "UserMailbox" and row["Alias"] != excluded}
    assert set(run.result["changed_mailboxes"]) == expected
    assert not grants_of(exo, sales[0]["PrimarySmtpAddress"], exo.info["service_account"])


# -- bad input: one clear message, nothing changed --------------------------------------

BAD_INPUT = [
    ("malformed address", {"user": "svc-mse"}, "secret", "not an e-mail address"),
    ("unknown trustee", {"user": "nobody@contoso.onmicrosoft.com"}, "secret", "was not found in Exchange Online"),
    ("trustee without mailbox", {"user": "mailuser1@contoso.onmicrosoft.com"}, "secret", "has no mailbox"),
    ("bad OPATH", {"filter": "Department -eq"}, "secret", "OPATH filter"),
    ("bad JMESPath", {"query": "Department =="}, "secret", "not a valid JMESPath"),
    ("wrong secret", {"client_secret": "not-the-secret"}, "secret", "AADSTS7000215"),
    ("unknown tenant", {"tenant": "fabrikam.onmicrosoft.com"}, "secret", "tenant"),
    ("unknown client", {"client_id": "11111111-2222-3333-4444-555555555555"}, "secret", "AADSTS700016"),
    ("missing Exchange role", {}, "no_role", "Exchange Recipient Administrator"),
    ("no admin consent", {}, "no_consent", "Exchange.ManageAsApp"),
    ("empty mailbox list", {"mailboxes": []}, "secret", "mailboxes is empty"),
]


@pytest.mark.parametrize("label, args, app, message", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_one_clear_message_and_changes_nothing(exo, tmp_path, label, args, app, message):
    run = run_module(tmp_path, base_args(exo, app=app, **args))
    assert run.returncode != 0, label
    assert message in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output
    assert writes(exo) == {}


def test_input_errors_send_no_request(exo, tmp_path):
    run = run_module(tmp_path, base_args(exo, user="not an address"))
    assert run.returncode != 0
    assert exo.control.stats()["requests_total"] == 0


# -- auth ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_certificate_credentials(exo, tmp_path, kind):
    app = exo.info["apps"]["certificate"]
    args = base_args(exo, app="certificate")
    if kind == "pem":
        args["certificate_path"] = app["cert_pem_path"]
    else:
        args.update(certificate_path=app["pfx_path"], certificate_password=app["pfx_password"])
    run = run_module(tmp_path, args, check=True)
    assert run.returncode == 0, run
    assert run.result["counts"]["changed"] > 0


def test_credentials_from_awx_environment_variables(exo, tmp_path):
    args = base_args(exo)
    env = {"AZURE_TENANT": args.pop("tenant"), "AZURE_CLIENT_ID": args.pop("client_id"), "AZURE_SECRET": args.pop("client_secret")}
    run = run_module(tmp_path, args, check=True, env=env)
    assert run.returncode == 0, run


def test_given_access_token_works_until_it_is_revoked(exo, tmp_path):
    token = EmulatorClient(exo.info).token()
    args = base_args(exo, access_token=token)
    del args["client_id"], args["client_secret"]
    run = run_module(tmp_path, args, check=True)
    assert run.returncode == 0, run
    exo.control.revoke_tokens()
    run = run_module(tmp_path, args, check=True)
    assert run.returncode != 0
    assert "access_token" in run.result["msg"]
    assert token not in run.output


# -- grants: AutoMapping, re-creation, replication, one mailbox failing -----------------

def test_existing_grants_are_left_alone_unless_recreate_existing(exo, tmp_path):
    target = others(exo)[0]
    exo.control.grant(target, exo.info["service_account_stored"], auto_mapping=True)
    run = run_module(tmp_path, base_args(exo, mailboxes=[target]))
    assert run.returncode == 0 and run.result["changed"] is False
    assert grants_of(exo, target, exo.info["service_account"])[0]["AutoMapping"] is True
    run = run_module(tmp_path, base_args(exo, mailboxes=[target], recreate_existing=True))
    assert run.returncode == 0 and run.result["changed"] is True, run
    rows = grants_of(exo, target, exo.info["service_account"])
    assert len(rows) == 1 and rows[0]["AutoMapping"] is False


def test_auto_mapping_and_inheritance_type_are_applied(exo, tmp_path):
    target = others(exo)[3]
    run = run_module(tmp_path, base_args(exo, mailboxes=[target], auto_mapping=True, inheritance_type="SelfAndChildren"))
    assert run.returncode == 0, run
    row = grants_of(exo, target, exo.info["service_account"])[0]
    assert row["AutoMapping"] is True and row["InheritanceType"] == "SelfAndChildren"


def test_new_mailbox_still_replicating_is_waited_for(exo, tmp_path):
    new = exo.control.add_mailboxes(count=1, replication_delay=3)[0]["PrimarySmtpAddress"]
    run = run_module(tmp_path, base_args(exo, mailboxes=[new]))
    assert run.returncode == 0, run
    assert run.result["changed_mailboxes"] == [new]


def test_mailbox_that_never_appears_is_listed_as_failed(exo, tmp_path):
    new = exo.control.add_mailboxes(count=1, replication_delay=60)[0]["PrimarySmtpAddress"]
    run = run_module(tmp_path, base_args(exo, replication_wait=2))
    assert run.returncode != 0
    assert run.result["failed_mailboxes"][0]["mailbox"] == new
    assert "replicate" in run.result["failed_mailboxes"][0]["reason"]
    counts = run.result["counts"]
    assert counts["failed"] == 1 and counts["changed"] == counts["selected"] - 1


def test_one_failing_mailbox_does_not_stop_the_others(exo, tmp_path):
    exo.control.add_faults({"kind": "status", "status": 400, "count": 1, "cmdlet": "Add-MailboxPermission", "where": "sub",
                            "body": {"error": {"code": "BadRequest", "message": "Error executing cmdlet", "details": [{
                                "message": "Ex1|Microsoft.Exchange.Management.Tasks.AclTooLargeException|"
                                           "The ACL contains too many entries."}]}}})
    run = run_module(tmp_path, base_args(exo))
    assert run.returncode != 0
    failed = run.result["failed_mailboxes"]
    assert len(failed) == 1 and "too many entries" in failed[0]["reason"]
    assert "1 failed" in run.result["msg"]
    counts = run.result["counts"]
    assert counts["changed"] == counts["selected"] - 1
    again = run_module(tmp_path, base_args(exo))
    assert again.returncode == 0 and again.result["changed_mailboxes"] == [failed[0]["mailbox"]]


# -- state file --------------------------------------------------------------------------

def test_state_file_makes_onboarding_cost_the_listing_plus_new_mailboxes(exo, tmp_path):
    state_file = str(tmp_path / "state" / "fullaccess.json")
    first = run_module(tmp_path, base_args(exo, state_file=state_file))
    assert first.returncode == 0, first
    selected = first.result["counts"]["selected"]
    new = [record["PrimarySmtpAddress"] for record in exo.control.add_mailboxes(count=5)]
    exo.control.reset_stats()
    onboarding = run_module(tmp_path, base_args(exo, state_file=state_file))
    assert onboarding.returncode == 0, onboarding
    assert sorted(onboarding.result["changed_mailboxes"]) == sorted(new)
    assert onboarding.result["counts"]["verified_from_state"] == selected
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    assert by_cmdlet["Get-MailboxPermission"] == 5 and by_cmdlet["Add-MailboxPermission"] == 5
    full = run_module(tmp_path, base_args(exo, state_file=state_file, state_max_age=0), check=True)
    assert full.result["requests"]["by_cmdlet"]["Get-MailboxPermission"] == selected + 5


def test_check_mode_does_not_write_the_state_file(exo, tmp_path):
    state_file = tmp_path / "state.json"
    run = run_module(tmp_path, base_args(exo, state_file=str(state_file)), check=True)
    assert run.returncode == 0, run
    assert not state_file.exists()


# -- faults: everything converges, nothing is lost ---------------------------------------

def test_throttling_errors_drops_expiring_tokens_and_links_converge(exo, tmp_path):
    exo.control.add_mailboxes(count=900)  # two listing pages
    exo.control.config(nextlink_ttl=1.0, latency_ms=5, latency_ms_max=20,
                       write_rate=150, write_burst=20, read_rate=400, read_burst=50)
    exo.control.add_faults(
        {"kind": "slow", "cmdlet": "Get-Mailbox", "where": "invoke", "delay_ms": 1500, "count": 2},  # page 2's link expires
        {"kind": "throttle", "probability": 0.05, "where": "sub"},
        {"kind": "throttle", "count": 3, "where": "batch"},
        {"kind": "status", "status": 503, "count": 6, "where": "sub"},
        {"kind": "status", "status": 500, "count": 2, "where": "batch"},
        {"kind": "drop", "count": 3, "where": "batch"},
    )
    stop = threading.Event()

    def revoke_mid_run():
        while not stop.is_set():
            if exo.control.stats()["sub_requests"] > 300:
                exo.control.revoke_tokens()
                return
            time.sleep(0.05)

    revoker = threading.Thread(target=revoke_mid_run)
    revoker.start()
    try:
        run = run_module(tmp_path, base_args(exo))
    finally:
        stop.set()
        revoker.join()
    assert run.returncode == 0, run
    counts = run.result["counts"]
    assert counts["failed"] == 0 and counts["changed"] == counts["selected"] == 1149
    stats = exo.control.stats()
    assert stats["throttled_total"] > 0 and stats["dropped"] >= 3
    # every token was revoked once mid-run: the module saw the 401 and got a new one
    assert stats["auth_failures"] >= 1 and run.result["requests"]["token_renewals"] >= 1
    exo.control.clear_faults()
    assert_converged(exo, tmp_path)


def test_short_lived_tokens_are_renewed_during_a_run(exo, tmp_path):
    exo.control.config(token_lifetime=1, latency_ms=20, latency_ms_max=40, write_rate=100, write_burst=10)
    run = run_module(tmp_path, base_args(exo))
    assert run.returncode == 0, run
    assert run.result["counts"]["failed"] == 0
    assert exo.control.stats()["tokens_issued"] > 1


# -- secrets -----------------------------------------------------------------------------

def test_no_secret_or_token_in_vvv_output(exo, tmp_path):
    cert = exo.info["apps"]["certificate"]
    secret = exo.info["apps"]["secret"]["client_secret"]
    run = run_module(tmp_path, base_args(exo), verbosity=3, diff=True, callback="default")
    assert run.returncode == 0, run.output[-3000:]
    failing = run_module(tmp_path, base_args(exo, client_secret=secret + "x"), verbosity=3, callback="default")
    assert failing.returncode != 0
    pfx = base_args(exo, app="certificate", certificate_path=cert["pfx_path"], certificate_password=cert["pfx_password"])
    with_cert = run_module(tmp_path, pfx, verbosity=3, check=True, diff=True, callback="default")
    assert with_cert.returncode == 0
    for output in (run.output, failing.output, with_cert.output):
        assert secret not in output
        assert cert["pfx_password"] not in output
        assert "eyJ" not in output  # no JWT (access token or client assertion)
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output
