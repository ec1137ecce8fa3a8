"""o365_mailbox_fullaccess through ansible-playbook against the Exchange Online emulator."""
from __future__ import annotations

import pytest

from playbook import connection_args, run_module  # pylint: disable=import-error

SECRET_APP = "secret"


def acl_grant(exo, identity, user):
    """The trustee's explicit FullAccess rows on a mailbox, read from the emulator's control API."""
    rows = exo.control.acl(identity)["acl"]
    return [row for row in rows if str(row["User"]).lower() == user.lower()
            and "FullAccess" in row["AccessRights"] and not row.get("Deny") and not row.get("IsInherited")]


def base_args(exo, **extra):
    args = connection_args(exo.info, SECRET_APP)
    args["user"] = exo.info["service_account"]
    args.update(extra)
    return args


def test_first_run_grants_every_mailbox_and_second_run_changes_nothing(exo, tmp_path):
    first = run_module(tmp_path, base_args(exo))
    assert first.returncode == 0, first
    counts = first.result["counts"]
    assert first.result["changed"] is True
    assert counts["failed"] == 0
    assert counts["changed"] == counts["selected"] - counts["unchanged"]
    assert counts["selected"] == counts["listed"] - counts["excluded"]
    sample = first.result["changed_mailboxes"][0]
    rows = acl_grant(exo, sample, exo.info["service_account"])
    assert len(rows) == 1
    assert rows[0]["AutoMapping"] is False and rows[0]["InheritanceType"] == "All"

    second = run_module(tmp_path, base_args(exo))
    assert second.returncode == 0, second
    assert second.result["changed"] is False
    assert second.result["counts"]["changed"] == 0
    assert second.result["counts"]["unchanged"] == counts["selected"]
    assert "Add-MailboxPermission" not in second.result["requests"]["by_cmdlet"]
