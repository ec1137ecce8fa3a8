# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module result: complete counts, bounded lists, and a diff people can read.

A first run on a 100,000-mailbox tenant changes 100,000 mailboxes; listing them all
would bury the answer. Counts are always complete, failures are never shortened, and
the list of changed mailboxes (and the diff) stop at ``report_limit``.
"""

from __future__ import annotations


def limited(items, limit):
    """(the first ``limit`` items, whether some were cut); a limit of 0 keeps all."""
    return (list(items[:limit]), len(items) > limit) if limit else (list(items), False)


def build_diff(params, trustee, changed, limit):
    """Before/after text naming each changed mailbox (``changed`` is sorted)."""
    shown, truncated = limited(changed, limit)
    granted = "FullAccess for %s" % trustee.upn
    missing = "no FullAccess for %s" % trustee.upn
    before_state, after_state = (missing, granted) if params["state"] == "present" else (granted, missing)
    if params["state"] == "present" and params["recreate_existing"]:
        before_state = "FullAccess for %s (re-created)" % trustee.upn
    before = "".join("%s: %s\n" % (address, before_state) for address in shown)
    after = "".join("%s: %s\n" % (address, after_state) for address in shown)
    if truncated:
        note = "... and %d more mailboxes (see counts)\n" % (len(changed) - len(shown))
        before, after = before + note, after + note
    return {"before": before, "after": after,
            "before_header": "mailbox permissions (before)", "after_header": "mailbox permissions (after)"}


def throttled_share(requests):
    """429 answers per cmdlet call sent (sub-requests, direct calls and pages, every attempt): how hard the run
    pressed on the tenant's budget, which every admin tool of the tenant shares."""
    calls = sum(requests["by_cmdlet"].values())
    return round(requests["throttled"] / calls, 4) if calls else 0.0


def build_result(params, trustee, scope, report, runner, client, check_mode=False, diff=False):
    """The dict the module returns."""
    changed_sorted = sorted(report.changed)
    changed_list, truncated = limited(changed_sorted, params["report_limit"])
    selected = scope.listed - scope.excluded
    verb = "granted" if params["state"] == "present" else "revoked"
    prefix = "would be " if check_mode else ""
    requests = client.stats.as_dict(client.tokens.renewals)
    requests["peak_concurrency"] = runner.peak_concurrency
    requests["throttled_share"] = throttled_share(requests)
    result = {
        "changed": bool(report.changed),
        "trustee": {"user_principal_name": trustee.upn, "primary_smtp_address": trustee.address},
        "counts": {
            "listed": scope.listed,
            "excluded": scope.excluded,
            "selected": selected,
            "unchanged": report.unchanged,
            "verified_from_state": report.from_state,
            "changed": len(report.changed),
            "failed": len(report.failed),
        },
        "changed_mailboxes": changed_list,
        "changed_mailboxes_truncated": truncated,
        "failed_mailboxes": report.failed,
        "requests": requests,
    }
    result["msg"] = "%d of %d selected mailboxes %s%s, %d already right, %d failed" % (
        len(report.changed), selected, prefix, verb, report.unchanged, len(report.failed))
    if report.failed:
        first = report.failed[0]
        result["msg"] += "; first failure: %s: %s" % (first["mailbox"], first["reason"])
    if scope.unmatched_excludes:
        result["msg"] += "; exclude entries that matched no listed mailbox: %s" % ", ".join(sorted(scope.unmatched_excludes))
    if diff:
        result["diff"] = build_diff(params, trustee, changed_sorted, params["report_limit"])
    return result
