# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_mailbox_fullaccess hands mailboxes to the grants as the listing's pages arrive.

What a user relies on: the grants of a large tenant do not wait for the last listing page;
a listing that breaks off half way fails the task, reports exactly what was done with the
mailboxes listed before it, records no listing mark, and the next run finishes the job;
bad input (a query that fails on some mailbox's data) still stops the run before any change.
"""

from __future__ import annotations

import json

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_mailbox_fullaccess
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules import emulated

WRITES = ("Add-MailboxPermission", "Remove-MailboxPermission")


def run(args, capsys, check=False):
    """Run the module with ``args``; returns its result dict."""
    return emulated.run_module(o365_mailbox_fullaccess, args, capsys, check=check)


def args_for(exo, **extra):
    """Module options for the secret app, granting to the service account."""
    return dict(emulated.connection(exo), user=exo.info["service_account"], **extra)


def writes(exo):
    """Write cmdlets the emulator executed or refused (every attempt)."""
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    return sum(by_cmdlet.get(name, 0) for name in WRITES)


def granted(exo, identity):
    """True when the service account holds explicit FullAccess on the mailbox."""
    user = exo.info["service_account"].lower()
    return any(str(row["User"]).lower() == user and "FullAccess" in row["AccessRights"] and not row.get("Deny")
               and not row.get("IsInherited") for row in exo.control.acl(identity)["acl"])


def break_the_listing_after_its_second_page(exo):
    """Page 2's next link points to another host, which the module refuses: the listing stops there.

    The trustee lookup and page 1 go out together (either may answer first) and pass untouched;
    page 2 is asked for only after both answered.
    """
    exo.control.add_faults({"kind": "nextlink", "target": "foreign", "cmdlet": "Get-Mailbox", "where": "invoke",
                            "skip": 2, "count": 1})


def test_grants_start_before_the_last_listing_page_arrives(exo, capsys, tmp_path):
    exo.control.add_mailboxes(count=2500)  # three listing pages of 1,000
    # Every listing page takes 400 ms more: a sequential listing would hold the first grant back 1.2 s.
    exo.control.add_faults({"kind": "slow", "delay_ms": 400, "cmdlet": "Get-Mailbox", "where": "invoke",
                            "probability": 1})
    trace = tmp_path / "trace.jsonl"
    result = run(args_for(exo, debug_log=str(trace)), capsys)
    assert not result.get("failed"), result["msg"]
    assert result["listing"]["complete"] is True
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    pages = [event["t"] for event in events if event.get("event") == "http" and event.get("cmdlet") == "Get-Mailbox"]
    first_grant = min(event["t"] for event in events if event.get("event") == "batch"
                      and any(sub["cmdlet"] == "Add-MailboxPermission" for sub in event["sub_requests"]))
    assert len(pages) == 4  # the trustee lookup and three pages
    assert first_grant < pages[-1], "the first grant waited for the whole listing"


def test_a_listing_that_breaks_off_fails_after_handling_what_it_listed_and_the_next_run_finishes(exo, capsys, tmp_path):
    exo.control.add_mailboxes(count=2500)
    total = exo.control.mailboxes(limit=1)["total"]
    args = args_for(exo, state_file=str(tmp_path / "state.json"))
    break_the_listing_after_its_second_page(exo)
    broken = run(args, capsys)
    assert broken["failed"] and "refuses to send the token" in broken["msg"]
    # What it did is reported, and is exactly what reached the tenant: pages 1 and 2, each mailbox granted once.
    assert broken["changed"] is True and broken["listing"]["complete"] is False
    assert broken["counts"]["listed"] == 2000 and broken["counts"]["failed"] == 0
    assert broken["counts"]["changed"] == writes(exo) == broken["counts"]["selected"]
    assert all(granted(exo, address) for address in broken["changed_mailboxes"][:20])
    assert "granted" in broken["msg"]
    # No listing mark was recorded from the broken listing: the next run lists everything again.
    exo.control.reset_stats()
    finished = run(args, capsys)
    assert not finished.get("failed"), finished["msg"]
    assert finished["listing"]["mode"] == "full" and finished["listing"]["complete"] is True
    assert finished["counts"]["listed"] == total
    assert finished["counts"]["changed"] == total - 1 - broken["counts"]["changed"] == writes(exo)
    again = run(args, capsys)
    assert again["changed"] is False and again["listing"]["mode"] == "incremental"


def test_with_a_query_a_broken_listing_changes_nothing(exo, capsys):
    # A query can fail on any mailbox's data, so its run reads the whole listing before the first change.
    exo.control.add_mailboxes(count=2500)
    break_the_listing_after_its_second_page(exo)
    result = run(args_for(exo, query="RecipientTypeDetails == 'UserMailbox'"), capsys)
    assert result["failed"] and "refuses to send the token" in result["msg"]
    assert not result.get("changed") and writes(exo) == 0


def test_a_query_that_fails_on_a_later_page_stops_the_run_before_any_change(exo, capsys):
    exo.control.add_mailboxes(count=1500)
    first = run(args_for(exo), capsys)
    assert not first.get("failed"), first["msg"]
    # A mailbox late in the listing whose CustomAttribute1 is a number (as a bad sync might leave it):
    # starts_with() cannot take it, so the query fails there, on page 2.
    late = exo.control.mailboxes(offset=1400, limit=1)["mailboxes"][0]
    exo.control.update_mailbox(late["Guid"], custom_attribute1=7)
    exo.control.reset_stats()
    bad = run(args_for(exo, query="starts_with(CustomAttribute1, 'S')", state="absent"), capsys)
    assert bad.get("failed"), bad["msg"]
    assert "query" in bad["msg"] and "Fix" in bad["msg"] and late["PrimarySmtpAddress"] in bad["msg"]
    assert not bad.get("changed") and writes(exo) == 0


def test_check_mode_with_a_broken_listing_writes_nothing_and_reports_what_it_would_have_done(exo, capsys):
    exo.control.add_mailboxes(count=2500)
    break_the_listing_after_its_second_page(exo)
    result = run(args_for(exo), capsys, check=True)
    assert result["failed"] and result["listing"]["complete"] is False
    assert writes(exo) == 0
    assert result["counts"]["changed"] == result["counts"]["selected"] > 0
