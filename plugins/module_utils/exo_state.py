# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local record of grants this module has verified, for cheap onboarding runs.

Exchange Online has no reverse lookup ("which mailboxes can X open"), so confirming a
grant costs one request per mailbox. With a state file, a mailbox whose grant was
verified less than ``max_age`` ago is trusted without a request, and an onboarding run
costs the listing plus the new mailboxes. Trust has a price: a grant removed behind
the module's back is noticed only when its record ages out. Records are per tenant and
trustee, so one file can serve many tenants.

The file is safe to share and to lose: losing it only costs a full verification. Runs
sharing one file merge their work under a lock, per mailbox, and the latest observation
wins: a record is the time a grant was verified, a negative number the time it was
found missing or revoked (a tombstone); on a tie "absent" wins. Records that are not
plain numbers or lie in the future are stale; records older than the max age are pruned
(this run's own are kept, so ``state_max_age: 0`` leaves exactly what it verified);
writes are atomic and fsynced; a symlinked path is followed, not replaced, but a symlink to
nothing is refused; the lock file beside it is owner-only.

The file also keeps, per (tenant, trustee) and scope, when the last complete listing
started on the service's clock (``listings``): an onboarding run then lists only what
was created or changed since (exo_selection.plan_listing). A revoke drops these marks,
so the next grant run lists everything again.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

STATE_VERSION = 1
# A long run saves what it verified at least this often (seconds).
SAVE_INTERVAL = 60.0


class StateFileError(ConfigurationError):
    """The state file cannot be read or written; the message says which and why."""


def _valid(stamp, now):
    """A record or tombstone that is a real, finite time not in the future."""
    return isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and math.isfinite(stamp) \
        and 0 < abs(stamp) <= now


def _instant(value):
    """A service time from the file: a positive finite number, else None."""
    return value if _valid(value, math.inf) and value > 0 else None


def _newer(mine, theirs):
    """True when ``mine`` is the later observation (on a tie, the tombstone wins)."""
    if abs(mine) != abs(theirs):
        return abs(mine) > abs(theirs)
    return mine < 0 <= theirs or (mine < 0) == (theirs < 0)


def holds_listings(path, tenant):
    """True when the file at ``path`` may hold listing marks of ``tenant`` (for any trustee).

    Without any, a run's listing is full whoever the trustee turns out to be, so it may start
    before the trustee lookup answers. An unreadable file answers True: the usual path then
    reports what is wrong with it.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            listings = json.load(handle).get("listings")
    except FileNotFoundError:
        return False
    except (OSError, ValueError, AttributeError):
        return True
    prefix = "%s|" % str(tenant).lower()
    return not isinstance(listings, dict) or any(str(key).startswith(prefix) for key in listings)


class VerifiedGrants:
    """Verified-grant timestamps of one (tenant, trustee), backed by a JSON file."""

    def __init__(self, path, tenant, trustee, max_age_seconds, clock=time.time, monotonic=time.monotonic):
        if os.path.islink(path) and not os.path.exists(path):
            # A link to nowhere would make us create directories and a file wherever it points.
            raise StateFileError("state_file %s is a symlink to %s, which does not exist. Nothing was changed. Fix: "
                                 "remove the link or point state_file at a real path" % (path, os.readlink(path)))
        # The real file behind a symlink is the one to update; the link stays a link.
        self.path = os.path.realpath(path)
        self.key = "%s|%s" % (str(tenant).lower(), str(trustee).lower())
        self.max_age = max_age_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._last_save = monotonic()
        document = self._load()
        self._entries = self._current(document)
        self._changes = {}  # this run's records (+time) and tombstones (-time)
        self._listings = self._listings_of(document)
        self._listing_changes = {}  # scope -> this run's mark; "revoked" -> service time of a revoke

    # -- reading ----------------------------------------------------------------------

    def _load(self):
        """The whole document on disk (an empty one when there is no file)."""
        if not os.path.exists(self.path):
            return {"version": STATE_VERSION, "grants": {}}
        try:
            with open(self.path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise StateFileError("cannot read state_file %s: %s. Fix: delete it (the next run re-verifies every "
                                 "mailbox) or point state_file elsewhere." % (self.path, exc))
        if not isinstance(document, dict) or document.get("version") != STATE_VERSION \
                or not isinstance(document.get("grants"), dict):
            raise StateFileError("state_file %s is not a state file of this module (version %s). Fix: delete it or "
                                 "point state_file elsewhere." % (self.path, STATE_VERSION))
        return document

    def _current(self, document):
        """This (tenant, trustee)'s valid records and tombstones on disk, minus those aged out."""
        entries = document["grants"].get(self.key)
        if not isinstance(entries, dict):
            return {}
        now = self._clock()
        return {str(identity): stamp for identity, stamp in entries.items()
                if _valid(stamp, now) and now - abs(stamp) < self.max_age}

    def _listings_of(self, document):
        """This (tenant, trustee)'s listing marks on disk: {"revoked": t, "scopes": {scope: {"since", "full"}}}."""
        entry = (document.get("listings") or {}).get(self.key) if isinstance(document.get("listings"), dict) else None
        if not isinstance(entry, dict):
            return {"revoked": 0, "scopes": {}}
        revoked = _instant(entry.get("revoked")) or 0
        scopes = {}
        for scope, mark in (entry.get("scopes") or {}).items() if isinstance(entry.get("scopes"), dict) else ():
            if isinstance(mark, dict) and _instant(mark.get("since")) and _instant(mark.get("full")) \
                    and mark["since"] > revoked:
                scopes[str(scope)] = {"since": mark["since"], "full": mark["full"]}
        return {"revoked": revoked, "scopes": scopes}

    def listing_mark(self, scope):
        """{"since", "full"} (service times) of the last complete listing of this scope, or None."""
        return self._listings["scopes"].get(scope)

    def mark_listing(self, scope, since, full):
        """Every mailbox of ``scope`` created or changed before ``since`` was handled; ``full``: last full listing."""
        self._listing_changes[scope] = {"since": since, "full": full}

    def revoke_listings(self, when):
        """A revoke at service time ``when``: no mark from before it may narrow a later listing."""
        self._listing_changes = {"revoked": when}

    def check_writable(self):
        """Fail before any change when the file could not be written at the end."""
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, exist_ok=True)
            handle, probe = tempfile.mkstemp(prefix=".state-probe-", dir=directory)
            os.close(handle)
            os.remove(probe)
        except OSError as exc:
            raise StateFileError("state_file %s cannot be written (%s). Nothing was changed. Fix: make its directory "
                                 "writable for the user running Ansible, or point state_file elsewhere."
                                 % (self.path, exc.strerror or exc))
        if os.path.exists(self.path) and not os.access(self.path, os.W_OK):
            raise StateFileError("state_file %s is not writable. Nothing was changed. Fix: make it writable, delete "
                                 "it, or point state_file elsewhere." % self.path)

    # -- this run's knowledge ---------------------------------------------------------

    def is_fresh(self, identity):
        """True when this mailbox's grant was verified within max_age."""
        stamp = self._entries.get(identity)
        return stamp is not None and stamp > 0 and self._clock() - stamp < self.max_age

    def record(self, identity):
        """Remember that the grant on this mailbox was just verified or made."""
        self._changes[identity] = self._entries[identity] = int(self._clock()) or 1

    def forget(self, identity):
        """The grant is gone (revoked) or unknown: verify it next time, here and in runs sharing the file."""
        self._changes[identity] = self._entries[identity] = -(int(self._clock()) or 1)

    # -- writing ----------------------------------------------------------------------

    def save_if_due(self):
        """Save at most every SAVE_INTERVAL seconds, so an interrupted long run keeps its work."""
        if self._monotonic() - self._last_save >= SAVE_INTERVAL:
            self.save()

    def save(self):
        """Merge this run's records into the file on disk, under a lock, atomically."""
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, exist_ok=True)
            # Owner-only like the state file, and never through a planted symlink.
            lock_handle = os.open(self.path + ".lock", os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(lock_handle, "a", encoding="utf-8") as lock:
                if os.fstat(lock.fileno()).st_mode & 0o777 != 0o600:
                    os.fchmod(lock.fileno(), 0o600)
                if fcntl is not None:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                document = self._load()
                document["grants"][self.key] = self._merged(document)
                if not document["grants"][self.key]:
                    document["grants"].pop(self.key)
                self._merge_listings(document)
                self._write(document, directory)
        except OSError as exc:
            raise StateFileError("cannot write state_file %s: %s" % (self.path, exc.strerror or exc))
        self._last_save = self._monotonic()

    def _merged(self, document):
        """What is on disk (minus what aged out) with this run's observations where they are newer."""
        merged = self._current(document)
        for identity, stamp in self._changes.items():
            if identity not in merged or _newer(stamp, merged[identity]):
                merged[identity] = stamp
        # One dict, not a copy: at 100,000 mailboxes each copy is tens of megabytes.
        self._entries = merged
        return merged

    def _merge_listings(self, document):
        """Marks on disk and this run's: the later mark of a scope wins, a revoke drops marks from before it."""
        if not self._listing_changes:
            return
        merged = self._listings_of(document)
        merged["revoked"] = max(merged["revoked"], self._listing_changes.get("revoked", 0))
        for scope, mark in self._listing_changes.items():
            if scope != "revoked" and mark["since"] > merged["revoked"]:
                known = merged["scopes"].get(scope)
                merged["scopes"][scope] = mark if known is None else {
                    "since": max(known["since"], mark["since"]), "full": max(known["full"], mark["full"])}
        merged["scopes"] = {scope: mark for scope, mark in merged["scopes"].items() if mark["since"] > merged["revoked"]}
        if not isinstance(document.get("listings"), dict):
            document["listings"] = {}
        document["listings"][self.key] = merged
        self._listings = merged

    def _write(self, document, directory):
        handle, temporary = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, separators=(",", ":"), sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            if os.path.exists(self.path):
                os.chmod(temporary, os.stat(self.path).st_mode & 0o777)
            os.replace(temporary, self.path)
        except OSError:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        directory_handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)
