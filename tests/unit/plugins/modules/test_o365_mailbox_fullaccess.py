# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_mailbox_fullaccess, run in-process against the strict Exchange Online emulator.

Each test is a point of the evidence table (research: exchange-online-rest.md, "Evidence
update") or a hostile-network case: what a real tenant or a misbehaving network does, and
what the module must do about it. The emulator's fault rules are described in
tests/emulator/README.md.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_mailbox_fullaccess
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules import emulated

WRITES = ("Add-MailboxPermission", "Remove-MailboxPermission")

try:  # From ansible-core 2.19 the controller asks for tracebacks; before, a result always has them.
    from ansible.module_utils._internal import _traceback  # pylint: disable=unused-import
    TRACEBACKS_ASKED_FOR = True
except ImportError:
    TRACEBACKS_ASKED_FOR = False


def run(args, capsys, check=False):
    """Run the module with ``args``; returns its result dict."""
    return emulated.run_module(o365_mailbox_fullaccess, args, capsys, check=check)


def connection(exo, app="secret", tenant=None):
    """Module options for one of the emulator's apps, granting to the service account."""
    return dict(emulated.connection(exo, app, tenant), user=exo.info["service_account"])


def writes(exo):
    """Write cmdlets the emulator executed or refused (every attempt)."""
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    return sum(by_cmdlet.get(name, 0) for name in WRITES)


def grants_of(exo, identity, user):
    """The trustee's explicit FullAccess rows on a mailbox."""
    return [row for row in exo.control.acl(identity)["acl"] if str(row["User"]).lower() == user.lower()
            and "FullAccess" in row["AccessRights"] and not row.get("Deny") and not row.get("IsInherited")]


def assert_converged(exo, capsys, **args):
    """A check-mode run finds nothing left to change."""
    check = run(dict(connection(exo), **args), capsys, check=True)
    assert not check.get("failed"), check["msg"]
    assert check["counts"]["changed"] == 0, check["msg"]


# -- the evidence table ------------------------------------------------------------------

def test_batched_calls_carry_their_own_credentials_and_converge(exo, capsys):
    first = run(connection(exo), capsys)
    assert not first.get("failed"), first["msg"]
    assert first["changed"] and first["counts"]["failed"] == 0
    assert first["counts"]["changed"] == first["counts"]["selected"]
    exo.control.reset_stats()
    second = run(connection(exo), capsys)
    assert second["changed"] is False and second["counts"]["changed"] == 0
    assert writes(exo) == 0


@pytest.mark.parametrize("tenant_key", ["tenant_id", "custom_domain"])
def test_guid_or_custom_domain_tenant_with_a_custom_domain_trustee(exo, capsys, tenant_key):
    args = connection(exo, tenant=exo.info[tenant_key])
    args["user"] = exo.info["service_account_custom"]
    args["mailboxes"] = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=5)["mailboxes"]]
    result = run(args, capsys)
    assert not result.get("failed"), result["msg"]
    assert result["counts"]["changed"] == 5
    assert grants_of(exo, args["mailboxes"][0], exo.info["service_account_custom"])


def test_no_role_403_in_gzip_labelled_nul_bytes_names_the_role_and_cmdlet(exo, capsys):
    result = run(connection(exo, app="no_role"), capsys)
    assert result["failed"]
    assert "Exchange Recipient Administrator" in result["msg"] and "Get-Mailbox" in result["msg"]
    assert "gzip" not in result["msg"] and "Traceback" not in json.dumps(result)


def test_read_only_role_is_an_rbac_error_without_token_renewals_or_a_retry_storm(exo, capsys):
    args = connection(exo, app="read_only")
    args["mailboxes"] = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=30)["mailboxes"]]
    result = run(args, capsys)
    assert result["failed"]
    assert "not allowed to call Add-MailboxPermission" in result["msg"] and "Exchange Recipient Administrator" in result["msg"]
    assert "consent" not in result["msg"]
    assert result["requests"]["token_renewals"] == 0
    # the first refused batch stops the run: no retries of every mailbox
    assert exo.control.stats()["by_cmdlet"].get("Add-MailboxPermission", 0) <= 10 * 2 * 16


def test_adminapi_errors_in_a_200_are_failures_never_changes_or_verified_records(exo, capsys, tmp_path):
    exo.control.add_faults({"kind": "adminapi_error", "cmdlet": "Add-MailboxPermission", "where": "sub", "count": 3,
                            "error": "Ex3C8F6E|Microsoft.Exchange.Configuration.Tasks.TaskException|The ACE could not be added."})
    state = tmp_path / "state.json"
    args = dict(connection(exo), state_file=str(state))
    result = run(args, capsys)
    assert result["failed"] and result["counts"]["failed"] == 3
    failed = {entry["mailbox"] for entry in result["failed_mailboxes"]}
    assert not failed & set(result["changed_mailboxes"])
    assert all("could not be added" in entry["reason"] for entry in result["failed_mailboxes"])
    for address in failed:
        assert not grants_of(exo, address, exo.info["service_account"])
    again = run(args, capsys)  # the failed mailboxes were not recorded as verified: they are granted now
    assert not again.get("failed") and again["counts"]["changed"] == 3


@pytest.mark.parametrize("exception", ["DCOverloadedException", "SuitabilityDirectoryException", "ServerInMMException",
                                       "ADServerSettingsChangedException", "StorageTransientException"])
def test_transient_server_exceptions_are_retried(exo, capsys, exception):
    exo.control.add_faults({"kind": "status", "status": 500, "exception": exception, "where": "sub", "count": 4})
    result = run(connection(exo), capsys)
    assert not result.get("failed"), result["msg"]
    assert result["counts"]["failed"] == 0
    assert_converged(exo, capsys)


def test_concurrency_text_on_a_503_and_decimal_retry_after_are_throttling(exo, capsys):
    exo.control.add_faults({"kind": "concurrency", "status": 503, "retry_after": "0.4", "where": "batch", "count": 3},
                           {"kind": "throttle", "retry_after": "0.25", "where": "sub", "count": 5})
    result = run(connection(exo), capsys)
    assert not result.get("failed"), result["msg"]
    assert result["requests"]["throttled"] >= 3
    assert_converged(exo, capsys)


@pytest.mark.parametrize("answer", ["warning", "silent", "error"])
def test_an_add_whose_first_answer_was_lost_is_settled_by_reading_back(exo, capsys, answer):
    # The Add runs, then the answer is a 503; the retried Add meets the existing grant, which
    # the service may answer with a warning, with nothing, or with an error (evidence: unknown).
    exo.control.config(existing_grant_answer=answer)
    targets = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=4)["mailboxes"]]
    exo.control.add_faults({"kind": "status", "status": 503, "after": True, "cmdlet": "Add-MailboxPermission",
                            "where": "sub", "count": 4})
    result = run(dict(connection(exo), mailboxes=targets), capsys)
    assert not result.get("failed"), result["msg"]
    assert sorted(result["changed_mailboxes"]) == sorted(targets)
    assert exo.control.stats()["by_cmdlet"]["Get-MailboxPermission"] > len(targets)  # the read-backs


def test_warnings_in_another_language_do_not_decide_anything(exo, capsys):
    # Without Accept-Language the emulator warns in German; the module sends en-US, and
    # its outcome does not depend on the text either way (see the read-back test above).
    targets = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=3)["mailboxes"]]
    for address in targets:
        exo.control.grant(address, exo.info["service_account_stored"])
    result = run(dict(connection(exo), mailboxes=targets, state="absent"), capsys)
    assert sorted(result["changed_mailboxes"]) == sorted(targets)
    again = run(dict(connection(exo), mailboxes=targets, state="absent"), capsys)
    assert again["changed"] is False


def test_batched_permission_reads_refused_for_routing_fall_back_to_direct_calls(exo, capsys):
    exo.control.add_faults({"kind": "routing_error", "cmdlet": "Get-MailboxPermission", "where": "sub", "count": 6})
    targets = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=12)["mailboxes"]]
    result = run(dict(connection(exo), mailboxes=targets), capsys)
    assert not result.get("failed"), result["msg"]
    assert result["counts"]["changed"] == 12
    assert exo.control.stats()["by_endpoint"].get("invoke", 0) >= 6 + 1


def test_listing_asks_only_for_the_properties_it_needs(exo, capsys, tmp_path):
    trace = tmp_path / "trace.jsonl"
    result = run(dict(connection(exo), debug_log=str(trace), query="CustomAttribute1 != 'none'"), capsys,
                 check=True)
    assert not result.get("failed"), result["msg"]
    listing = [json.loads(line) for line in trace.read_text().splitlines()]
    pages = [entry for entry in listing if entry.get("event") == "http" and entry.get("cmdlet") == "Get-Mailbox"
             and entry.get("status") == 200 and entry.get("values", 0) > 10]
    assert pages and all("$select" in entry["query_keys"] for entry in pages)
    # 250 mailboxes with ~10 properties each, instead of ~250 properties (about 14 KB a mailbox)
    assert sum(entry["body_bytes"] for entry in pages) < 250 * 2000


def test_debug_log_holds_no_token_or_secret(exo, capsys, tmp_path):
    trace = tmp_path / "trace.jsonl"
    args = dict(connection(exo), debug_log=str(trace))
    exo.control.add_faults({"kind": "status", "status": 503, "where": "sub", "count": 2})
    run(args, capsys)
    text = trace.read_text()
    assert '"event": "http"' in text and '"event": "batch"' in text and "Add-MailboxPermission" in text
    assert args["client_secret"] not in text and "eyJ" not in text and "Bearer" not in text


# -- hostile network ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["html", "truncated", "empty", "json_error", "value_not_list"])
def test_a_listing_page_that_is_not_an_answer_fails_the_task_instead_of_narrowing_scope(exo, capsys, mode):
    exo.control.add_faults({"kind": "corrupt", "mode": mode, "cmdlet": "Get-Mailbox", "where": "invoke", "probability": 1})
    result = run(connection(exo), capsys)
    assert result["failed"] and not result.get("changed")
    assert "not a valid" in result["msg"] or "did not answer reliably" in result["msg"]
    assert writes(exo) == 0


def test_a_page_that_was_corrupted_once_is_read_again(exo, capsys):
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "cmdlet": "Get-Mailbox", "where": "invoke", "count": 2})
    result = run(connection(exo), capsys, check=True)
    assert not result.get("failed"), result["msg"]
    assert result["counts"]["listed"] == exo.control.mailboxes(limit=1)["total"]


def test_an_add_answered_with_a_corrupt_body_is_checked_not_believed(exo, capsys, tmp_path):
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "cmdlet": "Add-MailboxPermission", "where": "sub", "count": 5})
    result = run(dict(connection(exo), state_file=str(tmp_path / "s.json")), capsys)
    assert not result.get("failed"), result["msg"]
    assert_converged(exo, capsys)


def test_revoke_check_answered_with_html_is_never_already_right(exo, capsys):
    targets = [row["UserPrincipalName"] for row in exo.control.mailboxes(offset=2, limit=3)["mailboxes"]]
    for address in targets:
        exo.control.grant(address, exo.info["service_account_stored"])
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "cmdlet": "Get-MailboxPermission", "where": "sub",
                            "probability": 1})
    result = run(dict(connection(exo), mailboxes=targets, state="absent"), capsys)
    assert result["failed"] and result["counts"]["unchanged"] == 0 and result["counts"]["failed"] == 3
    assert all(grants_of(exo, address, exo.info["service_account"]) for address in targets)


@pytest.mark.parametrize("target", ["sink_https", "sink_http", "foreign"])
def test_the_token_never_follows_a_next_link_to_another_host(exo, capsys, target):
    exo.control.add_mailboxes(count=900)  # two listing pages
    # count 2: the trustee lookup (whose next link a single lookup never follows), then page 1
    exo.control.add_faults({"kind": "nextlink", "target": target, "cmdlet": "Get-Mailbox", "where": "invoke", "count": 2})
    result = run(connection(exo), capsys)
    assert result["failed"] and "refuses to send the token" in result["msg"]
    assert not [entry for entry in exo.control.sink_requests() if entry["authorization"]]
    assert writes(exo) == 0


def test_a_next_link_that_never_ends_stops_the_listing(exo, capsys):
    exo.control.add_mailboxes(count=900)
    exo.control.add_faults({"kind": "nextlink", "target": "loop", "cmdlet": "Get-Mailbox", "where": "invoke",
                            "probability": 1})
    started = time.monotonic()
    result = run(connection(exo), capsys)
    assert result["failed"] and "never end" in result["msg"]
    assert time.monotonic() - started < 60
    # The repeated pages were granted as they came, each mailbox once, and the failure says so.
    assert result["listing"]["complete"] is False
    assert result["changed"] and writes(exo) == result["counts"]["changed"] == result["counts"]["listed"] - 1


@pytest.mark.parametrize("where", ["token", "invoke", "batch"])
def test_redirects_are_never_followed_with_credentials(exo, capsys, where):
    exo.control.add_faults({"kind": "redirect", "status": 307, "target": "sink_http", "where": where, "probability": 1})
    result = run(connection(exo), capsys)
    assert result["failed"] and "redirect" in result["msg"]
    assert not [entry for entry in exo.control.sink_requests()
                if entry["authorization"] or entry["client_secret"] or entry["client_assertion"]]


def test_the_token_endpoint_failing_at_start_is_retried(exo, capsys):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "token", "count": 1},
                           {"kind": "drop", "where": "token", "count": 1})
    result = run(connection(exo), capsys, check=True)
    assert not result.get("failed"), result["msg"]


def test_a_token_renewal_that_fails_for_good_mid_run_still_reports_every_mailbox(exo, capsys, tmp_path):
    exo.control.add_mailboxes(count=600)
    exo.control.config(latency_ms=20, write_rate=200, write_burst=20)
    stop = threading.Event()

    def cut_the_token_endpoint():
        while not stop.is_set():
            if exo.control.stats()["sub_requests"] > 300:
                exo.control.add_faults({"kind": "status", "status": 503, "where": "token", "probability": 1})
                exo.control.revoke_tokens()
                return
            time.sleep(0.05)

    cutter = threading.Thread(target=cut_the_token_endpoint)
    cutter.start()
    state = tmp_path / "state.json"
    started = time.monotonic()
    try:
        result = run(dict(connection(exo), state_file=str(state)), capsys)
    finally:
        stop.set()
        cutter.join()
    # the threads waiting for a token do not each repeat the token endpoint's retries
    assert time.monotonic() - started < 60
    assert result["failed"] and "Traceback" not in result["msg"] and "no token" in result["msg"]
    counts = result["counts"]
    assert counts["changed"] > 0 and result["changed"] is True
    assert counts["unchanged"] + counts["changed"] + counts["failed"] + counts.get("not_processed", 0) == counts["selected"]
    assert counts["failed"] > 0 and result["failed_mailboxes"]
    recorded = json.loads(state.read_text())["grants"]
    assert sum(1 for stamp in next(iter(recorded.values())).values() if stamp > 0) == counts["changed"]


def test_a_service_that_keeps_failing_is_given_up_on_within_a_bounded_number_of_requests(exo, capsys):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "batch", "probability": 1})
    started = time.monotonic()
    result = run(connection(exo), capsys)
    assert result["failed"] and "stopped sending" in result["msg"] or "after 5 attempts" in result["msg"]
    assert result["counts"]["failed"] + result["counts"].get("not_processed", 0) == result["counts"]["selected"]
    # 249 mailboxes in batches of ten: without nested retries and with the breaker, a few hundred at most
    assert exo.control.stats()["batches"] < 200
    assert time.monotonic() - started < 120


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-5"])
def test_retry_after_that_is_not_a_sane_number_is_ignored(exo, capsys, value):
    exo.control.add_faults({"kind": "throttle", "retry_after": value, "where": "sub", "count": 3})
    started = time.monotonic()
    result = run(dict(connection(exo), mailboxes=[exo.control.mailboxes(offset=3, limit=1)["mailboxes"][0]["UserPrincipalName"]]),
                 capsys)
    assert not result.get("failed"), result["msg"]
    assert time.monotonic() - started < 60


def test_timeout_is_for_the_whole_answer_not_for_each_read(exo, capsys):
    exo.control.add_faults({"kind": "trickle", "bytes": 64, "every_ms": 200, "cmdlet": "Get-Mailbox", "where": "invoke",
                            "probability": 1})
    started = time.monotonic()
    result = run(dict(connection(exo), timeout=3), capsys, check=True)
    assert result["failed"]
    # five sends of at most ~3 s each plus backoff, not minutes of trickling
    assert time.monotonic() - started < 45


# -- bad input and safety ----------------------------------------------------------------

@pytest.mark.parametrize("option, value", [("filter", ""), ("filter", "  "), ("query", ""),
                                           ("recipient_type_details", []), ("mailboxes", [])])
def test_empty_selectors_are_rejected_not_read_as_every_mailbox(exo, capsys, option, value):
    result = run(dict(connection(exo), **{option: value}), capsys)
    assert result["failed"] and option in result["msg"] and "empty" in result["msg"]
    assert exo.control.stats()["requests_total"] == 0


def test_a_query_that_fails_on_real_data_names_the_query(exo, capsys):
    result = run(dict(connection(exo), query="contains(ForwardingAddress, 'x')"), capsys, check=True)
    assert result["failed"] and "query" in result["msg"] and "Fix" in result["msg"]


def test_an_unwritable_state_file_is_refused_before_any_change(exo, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(dict(connection(exo), state_file=str(blocker / "state.json")), capsys)
    assert result["failed"] and "Nothing was changed" in result["msg"]
    assert writes(exo) == 0


def test_validate_certs_false_warns(exo, capsys):
    args = dict(connection(exo), validate_certs=False, mailboxes=[exo.info["service_account"]])
    args.pop("ca_path")
    result = run(args, capsys, check=True)
    assert "validate_certs is false" in json.dumps(result.get("warnings"))


def test_an_unexpected_error_carries_its_traceback_with_secrets_masked(exo, capsys, monkeypatch):
    # A bug (here: one planted in the mailbox selection) must reach a maintainer with its
    # traceback, shown by Ansible at -vvv, and still without the secret it happened to hold.
    args = dict(connection(exo), mailboxes=[exo.info["service_account_custom"]])
    secret = args["client_secret"]
    if TRACEBACKS_ASKED_FOR:  # what the controller sends with ANSIBLE_DISPLAY_TRACEBACK=error (2.19+)
        args["_ansible_tracebacks_for"] = ["error"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("planted bug near %s" % secret)

    monkeypatch.setattr(o365_mailbox_fullaccess, "select_mailboxes", broken)
    result = run(args, capsys)
    assert result["failed"]
    assert "unexpected RuntimeError" in result["msg"]
    assert "Traceback (most recent call last)" in result["exception"]
    assert "def broken" in result["exception"] or "in broken" in result["exception"]
    assert secret not in json.dumps(result)


@pytest.mark.parametrize("credential", ["certificate_path", "secret"])
def test_a_credential_in_the_task_wins_over_awx_azure_credential(exo, capsys, monkeypatch, credential):
    # An AWX job with the "Microsoft Azure Resource Manager" credential attached: its variables
    # name another app and a wrong secret; the task's own credential is the one used.
    monkeypatch.setenv("AZURE_SECRET", "awx-secret-of-another-app")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-4000-8000-000000000001")
    monkeypatch.setenv("AZURE_CLOUD_ENVIRONMENT", "AzureCloud")
    args = dict(connection(exo, app="certificate" if credential == "certificate_path" else "secret"),
                mailboxes=[exo.info["service_account_custom"]])
    if credential == "certificate_path":
        args["certificate_path"] = exo.info["apps"]["certificate"]["cert_pem_path"]
    else:
        args["secret"] = args.pop("client_secret")
    result = run(args, capsys, check=True)
    assert not result.get("failed"), result["msg"]
    assert result["counts"]["selected"] == 1
    assert "awx-secret-of-another-app" not in json.dumps(result)
