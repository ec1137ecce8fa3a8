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
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

STATE_VERSION = 1


class StateFileError(ConfigurationError):
    """The state file cannot be read or written; the message says which and why."""


class VerifiedGrants:
    """Verified-grant timestamps of one (tenant, trustee), backed by a JSON file."""

    def __init__(self, path, tenant, trustee, max_age_seconds, clock=time.time):
        self.path = path
        self.key = "%s|%s" % (str(tenant).lower(), str(trustee).lower())
        self.max_age = max_age_seconds
        self._clock = clock
        self._document = self._load()
        self._entries = self._document["grants"].setdefault(self.key, {})

    def _load(self):
        if not self.path or not os.path.exists(self.path):
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

    def is_fresh(self, identity):
        """True when this mailbox's grant was verified within max_age."""
        verified = self._entries.get(identity)
        return verified is not None and self._clock() - verified < self.max_age

    def record(self, identity):
        """Remember that the grant on this mailbox was just verified or made."""
        self._entries[identity] = int(self._clock())

    def forget(self, identity):
        """The grant is gone (revoked) or unknown: verify it next time."""
        self._entries.pop(identity, None)

    def save(self):
        """Write the file atomically (a crash leaves the old or the new file, never half)."""
        if not self._entries:
            self._document["grants"].pop(self.key, None)
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".state-", dir=directory)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(self._document, stream, separators=(",", ":"), sort_keys=True)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise StateFileError("cannot write state_file %s: %s" % (self.path, exc))
