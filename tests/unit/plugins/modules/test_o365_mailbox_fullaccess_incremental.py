# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_mailbox_fullaccess with a state file: incremental listings and when they must not be trusted.

The emulator's WhenCreated/WhenChanged, date filters, Date header and clock_skew are
described in tests/emulator/README.md (the permission write moving WhenChanged is an
assumption). A run made two hours "later" is modelled by moving the service's clock
(clock_skew): the listing margin is one hour, so a run within the hour after a large
grant run lists those grants again.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_mailbox_fullaccess
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules import emulated

LATER = 7200  # seconds the service's clock moves between runs that are "hours apart"


def run(args, capsys, check=False):
    """Run the module with ``args``; returns its result dict."""
    return emulated.run_module(o365_mailbox_fullaccess, args, capsys, check=check)


def args_for(exo, tmp_path, **extra):
    """Module options for the secret app, granting to the service account, with a state file."""
    return dict(emulated.connection(exo), user=exo.info["service_account"], state_file=str(tmp_path / "state.json"),
                **extra)


def granted(exo, identity):
    """True when the service account holds explicit FullAccess on the mailbox."""
    user = exo.info["service_account"].lower()
    return any(str(row["User"]).lower() == user and "FullAccess" in row["AccessRights"] and not row.get("Deny")
               and not row.get("IsInherited") for row in exo.control.acl(identity)["acl"])


def converge_and_catch_up(exo, capsys, args):
    """A first (full) run, then, hours later, the run that lists its grants once more; returns both results."""
    first = run(args, capsys)
    assert not first.get("failed"), first["msg"]
    exo.control.config(clock_skew=LATER)
    exo.control.reset_stats()
    catch_up = run(args, capsys)
    assert not catch_up.get("failed"), catch_up["msg"]
    return first, catch_up


def test_onboarding_lists_only_what_changed_since_the_last_complete_listing(exo, capsys, tmp_path):
    args = args_for(exo, tmp_path)
    first, catch_up = converge_and_catch_up(exo, capsys, args)
    # The first run's grants moved WhenChanged: listed once more, trusted from the state file without a read.
    assert catch_up["counts"]["changed"] == 0 and catch_up["counts"]["verified_from_state"] == first["counts"]["changed"]
    assert "Get-MailboxPermission" not in exo.control.stats()["by_cmdlet"]
    assert first["listing"]["mode"] == "full" and catch_up["listing"]["mode"] == "incremental"
    exo.control.config(clock_skew=2 * LATER)
    new = exo.control.add_mailboxes(count=3)
    exo.control.reset_stats()
    onboarding = run(args, capsys)
    assert not onboarding.get("failed"), onboarding["msg"]
    assert onboarding["counts"]["listed"] == 3 and onboarding["counts"]["changed"] == 3
    assert all(granted(exo, mailbox["Guid"]) for mailbox in new)
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    assert by_cmdlet["Get-Mailbox"] == 2  # the trustee and one listing page
    assert by_cmdlet["Get-MailboxPermission"] == 3
    assert onboarding["listing"]["mode"] == "incremental"
    again = run(args, capsys)
    assert again["changed"] is False and again["listing"]["mode"] == "incremental"


def test_mailboxes_created_while_a_run_is_going_on_are_granted_by_the_next_run(exo, capsys, tmp_path):
    exo.control.add_mailboxes(count=300)
    exo.control.config(latency_ms=20)
    args = args_for(exo, tmp_path)
    added = []

    def create_during_the_run():
        # once the listing is over and permissions are being read, the run cannot see new mailboxes
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if exo.control.stats()["by_cmdlet"].get("Get-MailboxPermission", 0) > 20:
                added.extend(exo.control.add_mailboxes(count=4))
                return
            time.sleep(0.02)

    creator = threading.Thread(target=create_during_the_run)
    creator.start()
    try:
        first = run(args, capsys)
    finally:
        creator.join()
    assert not first.get("failed"), first["msg"]
    assert len(added) == 4 and not any(granted(exo, mailbox["Guid"]) for mailbox in added)
    exo.control.config(latency_ms=0, clock_skew=LATER)
    exo.control.reset_stats()
    second = run(args, capsys)
    assert not second.get("failed"), second["msg"]
    assert second["counts"]["changed"] == 4
    # incremental: the first run's grants and the new mailboxes, no permission read but for the new ones
    assert exo.control.stats()["by_cmdlet"]["Get-MailboxPermission"] == 4
    assert second["listing"]["mode"] == "incremental"
    assert all(granted(exo, mailbox["Guid"]) for mailbox in added)


def test_a_mailbox_that_moves_into_the_filter_through_an_attribute_change_is_granted(exo, capsys, tmp_path):
    args = args_for(exo, tmp_path, filter="Department -eq 'Sales'", exclude=["nobody@contoso.com"])
    first, _catch_up = converge_and_catch_up(exo, capsys, args)
    assert "matched no listed mailbox: nobody@contoso.com" in first["msg"]
    outsider = next(row for row in exo.control.mailboxes(offset=10, limit=200)["mailboxes"]
                    if row["Department"] not in ("Sales", "") and row["RecipientTypeDetails"] == "UserMailbox")
    exo.control.config(clock_skew=2 * LATER)
    exo.control.update_mailbox(outsider["Guid"], department="Sales")
    result = run(args, capsys)
    assert result["listing"]["mode"] == "incremental"
    assert result["counts"]["listed"] == 1 and result["counts"]["changed"] == 1
    assert granted(exo, outsider["Guid"])
    assert "matched no listed mailbox" not in result["msg"]  # an incremental listing says nothing about excludes


def test_the_listing_is_timed_by_the_service_clock_not_the_control_nodes(exo, capsys, tmp_path):
    # The service's clock is three hours behind the control node's: a mark taken from the
    # control node's clock would lie after the new mailboxes' WhenCreated and miss them.
    exo.control.config(clock_skew=-3 * 3600)
    args = args_for(exo, tmp_path)
    first = run(args, capsys)
    assert not first.get("failed"), first["msg"]
    new = exo.control.add_mailboxes(count=2)
    second = run(args, capsys)
    assert second["listing"]["mode"] == "incremental"
    assert second["counts"]["changed"] == 2 and all(granted(exo, mailbox["Guid"]) for mailbox in new)


def test_full_listing_when_the_scope_changed_max_age_is_zero_or_after_a_revoke(exo, capsys, tmp_path):
    args = args_for(exo, tmp_path)
    converge_and_catch_up(exo, capsys, args)
    narrowed = run(dict(args, exclude=["nobody@contoso.com"]), capsys)
    assert narrowed["listing"]["mode"] == "full" and "no complete listing" in narrowed["listing"]["reason"]
    assert run(dict(args, state_max_age=0), capsys)["listing"]["mode"] == "full"
    assert run(args, capsys)["listing"]["mode"] == "incremental"
    check = run(dict(args, state="absent"), capsys, check=True)  # check mode writes nothing
    assert check["counts"]["changed"] > 0
    assert run(args, capsys)["listing"]["mode"] == "incremental"
    revoke = run(dict(args, state="absent", state_file=str(tmp_path / "other.json")), capsys)
    assert revoke["counts"]["changed"] > 0
    # a revoke recorded in another file is unknown here: the grants' records still trust them (documented)
    run(dict(args, state="absent"), capsys)
    after = run(args, capsys)
    assert after["listing"]["mode"] == "full" and after["counts"]["changed"] == after["counts"]["selected"]


def test_a_run_with_a_failed_mailbox_keeps_the_previous_mark(exo, capsys, tmp_path):
    args = args_for(exo, tmp_path)
    converge_and_catch_up(exo, capsys, args)
    exo.control.config(clock_skew=2 * LATER)
    new = exo.control.add_mailboxes(count=3)
    exo.control.add_faults({"kind": "adminapi_error", "cmdlet": "Add-MailboxPermission", "where": "sub", "count": 1,
                            "error": "Ex3C8F6E|Microsoft.Exchange.Configuration.Tasks.TaskException|The ACE could not be added."})
    failing = run(args, capsys)
    assert failing["failed"] and failing["counts"]["failed"] == 1 and failing["counts"]["changed"] == 2
    exo.control.config(clock_skew=3 * LATER)  # later than the margin: only the old mark can list it again
    retried = run(args, capsys)
    assert not retried.get("failed"), retried["msg"]
    assert retried["listing"]["mode"] == "incremental" and retried["counts"]["changed"] == 1
    assert all(granted(exo, mailbox["Guid"]) for mailbox in new)


def test_check_mode_lists_incrementally_and_records_nothing(exo, capsys, tmp_path):
    args = args_for(exo, tmp_path)
    converge_and_catch_up(exo, capsys, args)
    state = (tmp_path / "state.json").read_bytes()
    exo.control.config(clock_skew=2 * LATER)
    exo.control.add_mailboxes(count=2)
    check = run(args, capsys, check=True)
    assert check["listing"]["mode"] == "incremental" and check["counts"]["changed"] == 2
    assert (tmp_path / "state.json").read_bytes() == state
