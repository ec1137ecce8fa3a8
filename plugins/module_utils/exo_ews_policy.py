# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The organisation's EWS access policy: ``EwsEnabled`` and the ``EwsAllowedAppIDs`` allow list.

What Microsoft documents (office-docs-powershell Set-OrganizationConfig.md, PR 13643 and 13657):

- ``-EwsAllowedAppIDs`` is a String: a comma-separated list of application (client) IDs. A
  value replaces the whole list (it is not a multi-valued property that takes
  ``@{Add=...; Remove=...}``), and ``$null`` clears it. So a change is always the full list,
  computed from a fresh read: the entries of other apps are kept as they are.
- The list is read back only with ``Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy``;
  published scripts see it as a comma-separated string, so both shapes (string or list) are read.
- ``EwsEnabled``: ``$true`` = only the listed apps can use EWS, and with an empty list every
  app can (an empty/``$null`` list means no restriction by app ID); ``$false`` = no app can;
  ``$null`` (not configured) = the list has no effect. Microsoft set tenants still at ``$null``
  without an allow list to ``$false`` on 1 October 2026. Changes take up to 24 hours to apply.

The list is one value that every writer replaces whole, and other apps and admins write it
too. So a change is computed from a read taken just before the write, checked afterwards for
our entries only (never for equality: another writer may have added theirs), and checked once
more after a pause, because an update lost to a concurrent writer shows only then. Entries of
other apps that disappear between our reads are named in a warning. Runs on one control node
take a lock per tenant; runs from several control nodes must be serialised by the user.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import tempfile
import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import settled_write

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
LOCK_WAIT_SECONDS = 300
# What an EWS client sees when the policy blocks it: HTTP 403 with this header (office-developer-exchange-docs,
# how-to-control-access-to-ews-in-exchange).
POLICY_REASONS = ("'EWS is disabled for this user or tenant' (EwsEnabled false, at the organisation or the mailbox)",
                  "'EWS is blocked by policy for this user or tenant' (the app is not in EwsAllowedAppIDs, or a "
                  "user-agent list refuses it)")
PROPAGATION_WARNING = ("Exchange Online can take up to 24 hours to apply a change of EwsEnabled or EwsAllowedAppIDs: "
                       "until then EWS requests may still be allowed or refused as before.")


class EwsPolicyError(ConfigurationError):
    """The EWS policy options cannot be used, or Exchange did not keep a change."""


def canonical_guid(value):
    """The lower-case form of a GUID (braces and spaces dropped), or None when it is not one."""
    text = str(value or "").strip().strip("{}").strip()
    return text.lower() if GUID_RE.match(text) else None


def check_app_ids(option, values):
    """The app IDs as canonical GUIDs (duplicates dropped); fails on anything else."""
    app_ids, bad = [], []
    for value in values or []:
        guid = canonical_guid(value)
        if guid is None:
            bad.append(str(value))
        elif guid not in app_ids:
            app_ids.append(guid)
    if bad:
        raise EwsPolicyError("%s must be application (client) IDs, GUIDs such as 00000000-0000-0000-0000-000000000000; "
                             "not: %s. Fix: copy the Application (client) ID from the app registration in Entra ID."
                             % (option, ", ".join(bad)))
    if not app_ids:
        raise EwsPolicyError("%s is empty. Fix: list the Application (client) ID of the MSE app registration." % option)
    return app_ids


def parse_allow_list(value):
    """The allow list as read -> list of entries as stored.

    Three shapes are public: None, one comma-separated string, and a list whose elements may
    themselves be comma-joined strings (a field report saw three IDs come back as ONE array
    element). Every element is split on commas, so all read the same.
    """
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items if item is not None for part in str(item).split(",") if part.strip()]


def parse_enabled(value):
    """EwsEnabled as read: True, False or None (not configured)."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


class EwsPolicy:
    """EwsEnabled and the allow list, with entries kept as stored (other apps' entries untouched)."""

    def __init__(self, enabled, allowed):
        self.enabled = enabled
        self.allowed = list(allowed)

    def lists(self, app_id):
        """True when the allow list holds this app ID (in any case or GUID format)."""
        return any(canonical_guid(entry) == app_id for entry in self.allowed)

    def keys(self):
        """The entries compared as a set: canonical GUIDs (anything else lower-cased)."""
        return {canonical_guid(entry) or entry.strip().lower() for entry in self.allowed}

    @property
    def every_app(self):
        """True when the policy lets every app use EWS: not configured, or enabled with an empty list."""
        return self.enabled is None or (self.enabled is True and not self.allowed)

    def holds(self, app_ids, state):
        """True when our part is as ``state`` asks: present = enabled and every app ID listed; absent = none listed."""
        if state == "present":
            return self.enabled is True and all(self.lists(app_id) for app_id in app_ids)
        return not any(self.lists(app_id) for app_id in app_ids)

    def allows(self, app_id):
        """Whether the policy lets this app use EWS: True, False, or None when EwsEnabled is not configured."""
        if self.enabled is None:
            return None
        return bool(self.enabled) and self.lists(app_id)

    def as_dict(self):
        """The policy as the module reports it (and shows in the diff)."""
        return {"ews_enabled": self.enabled, "ews_allowed_app_ids": list(self.allowed)}

    def __eq__(self, other):
        return isinstance(other, EwsPolicy) and self.enabled == other.enabled and self.keys() == other.keys()

    def __hash__(self):
        return hash((self.enabled, frozenset(self.keys())))


def read_policy(client):
    """The current policy: EwsEnabled from Get-OrganizationConfig, the list with -RetrieveEwsOperationAccessPolicy.

    An answer of another shape fails: a value that is neither true, false nor null is not "not
    configured", and a list that is neither a string nor an array is not "empty".
    """
    config = client.invoke("Get-OrganizationConfig", {}).value
    listing = client.invoke("Get-OrganizationConfig", {"RetrieveEwsOperationAccessPolicy": True}).value
    if not config or not listing or not isinstance(config[0], dict) or not isinstance(listing[0], dict):
        raise EwsPolicyError("Get-OrganizationConfig returned no organisation configuration, so the EWS policy cannot be "
                             "read. Run again; if it persists, report it with the debug_log file of the run.")
    raw_enabled, raw_list = config[0].get("EwsEnabled"), listing[0].get("EwsAllowedAppIDs")
    enabled = parse_enabled(raw_enabled)
    if raw_enabled is not None and enabled is None:
        raise EwsPolicyError("Get-OrganizationConfig returned EwsEnabled=%r, which is neither true, false nor null, so "
                             "the EWS policy cannot be read." % (raw_enabled,))
    if raw_list is not None and not isinstance(raw_list, (str, list)):
        raise EwsPolicyError("Get-OrganizationConfig returned EwsAllowedAppIDs of type %s, not a string or a list, so the "
                             "EWS policy cannot be read." % type(raw_list).__name__)
    return EwsPolicy(enabled, parse_allow_list(raw_list))


def desired_policy(current, app_ids, state):
    """The policy after this run.

    present: EwsEnabled true, and every app ID listed (added at the end of the list).
    absent: only our app IDs leave the list; EwsEnabled stays as it is (other apps may rely on it).
    """
    if state == "present":
        missing = [app_id for app_id in app_ids if not current.lists(app_id)]
        return EwsPolicy(True, current.allowed + missing)
    kept = [entry for entry in current.allowed if canonical_guid(entry) not in app_ids]
    return EwsPolicy(current.enabled, kept)


def set_parameters(current, desired):
    """The Set-OrganizationConfig parameters that turn ``current`` into ``desired`` ({} when nothing changes).

    The list goes as one comma-separated string of GUIDs (the parameter's documented type), or $null when
    it becomes empty (the documented way to clear it). Both settings go in one call, as in
    Microsoft's example, so the list is in place when EwsEnabled becomes true.
    """
    parameters = {}
    if desired.keys() != current.keys():
        # Each ID in its plain form (no braces, lower case): the same app, in the form the parameter documents.
        parameters["EwsAllowedAppIDs"] = ",".join(canonical_guid(entry) or entry for entry in desired.allowed) \
            if desired.allowed else None
    if desired.enabled != current.enabled:
        parameters["EwsEnabled"] = desired.enabled
    return parameters


def others_of(policy, app_ids):
    """The entries of other apps, as stored."""
    return [entry for entry in policy.allowed if canonical_guid(entry) not in app_ids]


def vanished(earlier, later, app_ids):
    """Entries of other apps that ``earlier`` held and ``later`` does not."""
    kept = later.keys()
    return [entry for entry in others_of(earlier, app_ids) if (canonical_guid(entry) or entry.strip().lower()) not in kept]


def narrowing_error(current, desired):
    """The message that stops a change from 'every app may use EWS' to 'only the listed apps', or None."""
    if not current.every_app or desired.every_app or desired.enabled is not True:
        return None
    now = ("EwsEnabled is not configured ($null), so the allow list has no effect" if current.enabled is None
           else "EwsEnabled is true with an empty EwsAllowedAppIDs, which means no restriction by app ID")
    return ("%s: every app may use EWS today. Setting EwsAllowedAppIDs to %s with EwsEnabled true would let ONLY those "
            "apps use EWS; every other app (backup, archiving, migration tools...) would get HTTP 403 with "
            "X-EWS-Policy-Reason 'EWS is blocked by policy for this user or tenant' once the change applies (up to 24 "
            "hours). Nothing was changed. Fix: add every app that still needs EWS to app_ids, then set "
            "restrict_to_listed_apps: true to confirm." % (now, ",".join(desired.allowed)))


def opening_error(current, desired):
    """The message that stops a change from 'only the listed apps' to 'every app may use EWS', or None.

    It happens when state=absent removes the last entry while EwsEnabled is true: an empty list
    means no restriction by app ID.
    """
    if current.every_app or not desired.every_app or desired.enabled is not True:
        return None
    return ("EwsAllowedAppIDs would become empty while EwsEnabled is true, which means no restriction by app ID: every "
            "app would then be allowed to use EWS, not only the apps listed today (%s). Nothing was changed. Fix: set "
            "allow_every_app: true to confirm, or first add the apps that should keep EWS, or set EwsEnabled to false "
            "yourself to block EWS for every app." % ",".join(current.allowed))


def check_change(current, desired, restrict_to_listed_apps=False, allow_every_app=False):
    """Raise EwsPolicyError for a change that cannot be written, or turns the meaning of the policy around unconfirmed."""
    junk = [entry for entry in desired.allowed if canonical_guid(entry) is None]
    if junk:
        # The list is written whole, so entries the parameter does not take would make every write fail.
        raise EwsPolicyError("EwsAllowedAppIDs holds entries that are not application IDs: %s. The list is written whole "
                             "and takes GUIDs only, so nothing was changed. Fix: remove those entries by hand "
                             "(Set-OrganizationConfig -EwsAllowedAppIDs with the valid IDs), then run again."
                             % ", ".join(repr(entry) for entry in junk))
    problem = None if restrict_to_listed_apps else narrowing_error(current, desired)
    problem = problem or (None if allow_every_app else opening_error(current, desired))
    if problem:
        raise EwsPolicyError(problem)


@contextlib.contextmanager
def tenant_lock(tenant_id, wait=LOCK_WAIT_SECONDS, sleep=time.sleep):
    """Serialise the runs on this control node that write one tenant's EWS policy (a 0600 lock file, no symlinks)."""
    digest = hashlib.sha256(str(tenant_id).lower().encode("utf-8")).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), "mimecast_mse-ews-policy-%s.lock" % digest)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise EwsPolicyError("cannot open the lock file %s (%s). Nothing was changed. Fix: remove it if it is a symlink "
                             "or not yours." % (path, exc.strerror)) from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise EwsPolicyError("another run on this control node has held the EWS policy lock %s for over %d "
                                         "seconds. Nothing was changed. Run again when it has finished." % (path, wait))
                sleep(0.5)
        yield path
    finally:
        os.close(descriptor)


class PolicyWriter:
    """Converge the policy against a tenant that other writers share; ``progress`` records what was done."""

    def __init__(self, client, app_ids, state, progress, recheck_seconds=10.0, sleep=time.sleep):
        self.client = client
        self.app_ids = app_ids
        self.state = state
        self.progress = progress
        self.recheck_seconds = recheck_seconds
        self.sleep = sleep
        self.warnings = []

    def write(self, before, confirmed):
        """Re-read, write the merged list, read back, check again after a pause; returns the policy now held.

        ``confirmed`` holds the check_change options the user set.
        """
        fresh = read_policy(self.client)
        self._report_vanished(before, fresh, "between this run's first read and its write")
        desired = desired_policy(fresh, self.app_ids, self.state)
        if fresh.holds(self.app_ids, self.state) and desired.enabled == fresh.enabled:
            return fresh  # another writer did it in the meantime
        check_change(fresh, desired, **confirmed)
        parameters = set_parameters(fresh, desired)
        settled_write(self.client, "Set-OrganizationConfig", parameters,
                      lambda: read_policy(self.client).holds(self.app_ids, self.state),
                      "Set-OrganizationConfig %s" % ", ".join("%s=%s" % item for item in sorted(
                          (key, "$null" if value is None else value) for key, value in parameters.items())),
                      self.progress)
        stored = self._confirm("read back right after the write")
        self._report_vanished(fresh, stored, "while this run wrote the list (another writer's change)")
        if self.recheck_seconds > 0:
            self.sleep(self.recheck_seconds)
            stored = self._confirm("checked again %g seconds after the write" % self.recheck_seconds)
        return stored

    def _confirm(self, when):
        stored = read_policy(self.client)
        if not stored.holds(self.app_ids, self.state):
            ours = ", ".join(self.app_ids)
            raise EwsPolicyError(
                "the EWS policy %s no longer %s: EwsEnabled=%s, EwsAllowedAppIDs=%s. Another writer replaced the list "
                "concurrently (the list is one value, written whole), so this run's update was lost. Run the task again, "
                "and serialise the runs and tools that write EwsAllowedAppIDs for this tenant."
                % (when, ("lists app %s with EwsEnabled true" % ours) if self.state == "present" else
                   ("leaves app %s out" % ours), stored.enabled, ",".join(stored.allowed) or "(empty)"))
        return stored

    def _report_vanished(self, earlier, later, when):
        lost = vanished(earlier, later, self.app_ids)
        if lost:
            self.warnings.append("EwsAllowedAppIDs lost the entries %s %s; this run did not remove them. If those apps "
                                 "still need EWS, add them back." % (", ".join(lost), when))


def policy_warnings(before, after, app_ids):
    """What a person should know about the policy change (besides the 24-hour delay)."""
    warnings = []
    if before.enabled is not True and after.enabled is True:
        others = [entry for entry in after.allowed if canonical_guid(entry) not in app_ids]
        warnings.append("EwsEnabled was %s and is now true: from now on only the apps in EwsAllowedAppIDs can use EWS "
                        "(%d other app(s) listed: %s). Add every other app that still needs EWS to the list."
                        % ("not configured ($null)" if before.enabled is None else "false", len(others),
                           ", ".join(others) or "none"))
    if after.enabled is True and not after.allowed and before.allowed:
        warnings.append("EwsAllowedAppIDs is now empty while EwsEnabled is true, which means no restriction by app ID: "
                        "every app may use EWS again.")
    if after.enabled is None:
        warnings.append("EwsEnabled is not configured ($null), so the allow list has no effect; Microsoft set such tenants "
                        "to false on 1 October 2026.")
    if after.enabled is False:
        warnings.append("EwsEnabled is false: no app can use EWS, whatever the allow list says.")
    return warnings


def effective_access(policy, app_ids):
    """For each of our app IDs: can it use EWS under this policy (True, False, None = not configured)."""
    return {app_id: policy.allows(app_id) for app_id in app_ids}
