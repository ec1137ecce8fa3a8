# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One write to an organisation-level object, settled by a read-back when its answer is ambiguous.

The rule of ``exo_grants``, for the modules that write one object at a time: a clean answer
(first send, no warning, a result) confirms the write. Any other answer is ambiguous: an
error (the connection dropped after the service applied it, "already exists" to a re-sent
New-, "not found" to a re-sent Remove-), a warning in whatever language, no result, or an
answer to a send that went out more than once. Then the object is read again and what is
there decides. No error or warning text decides it.

``Progress`` keeps what a run did, so that a failure still reports it, and ``changed`` is
true as soon as a write may have been applied, in failed results too.
"""

from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError


class WriteFailed(ConfigurationError):
    """A write that did not take effect (``maybe_applied`` False) or whose effect cannot be known (True)."""

    def __init__(self, message, maybe_applied):
        super().__init__(message)
        self.maybe_applied = maybe_applied


class Progress:
    """What a run has done so far: the confirmed actions, and whether a write's effect is unknown."""

    def __init__(self):
        self.actions = []
        self.uncertain = False

    @property
    def changed(self):
        """True once a write was confirmed, or may have been applied."""
        return bool(self.actions) or self.uncertain


def ambiguity(answer, sends=None):
    """Why an answer to a write does not confirm it, or None when it does.

    ``answer`` is a CmdletResult or an ExoError; ``sends`` is how often the write went out
    (by default the answer's own count: a batched call's runner counts them instead).
    """
    if isinstance(answer, ExoError):
        return "it failed: %s" % answer.message
    if answer.warnings:
        return "it answered with a warning: %s" % "; ".join(answer.warnings)[:300]
    if answer.value is None:
        return "it answered without a result"
    sends = answer.sends if sends is None else sends
    if sends > 1:
        return "it was sent %d times" % sends
    return None


def settled_write(client, cmdlet, parameters, in_effect, what, progress):
    """Send ``cmdlet``; returns its answer (None when a read-back settled it).

    ``in_effect()`` reads the object back and says whether the write's effect is there.
    ``what`` describes the write for ``progress.actions`` and messages. Raises WriteFailed
    when the write did not take effect or cannot be settled, and ExoError when the service
    refused it outright (no role, no token: nothing was applied, and nothing else will be).
    """
    try:
        answer = client.invoke(cmdlet, parameters)
    except ExoError as exc:
        if exc.fatal:
            # Nothing more can be sent, not even a read-back; an earlier send that ended in a
            # transient error may still have applied the write.
            progress.uncertain = progress.uncertain or bool(exc.earlier_sends)
            raise
        answer = exc
    doubt = ambiguity(answer)
    answer = None if isinstance(answer, ExoError) else answer
    if doubt is None:
        progress.actions.append(what)
        return answer
    try:
        done = in_effect()
    except (ExoError, ConfigurationError) as exc:
        progress.uncertain = True
        raise WriteFailed("%s: %s, and reading it back failed too (%s). It may or may not have been applied; run the "
                          "task again to converge." % (cmdlet, doubt, exc), maybe_applied=True) from exc
    if not done:
        raise WriteFailed("%s did not take effect: %s, and the read-back shows it was not applied." % (cmdlet, doubt),
                          maybe_applied=False)
    progress.actions.append(what)
    return None
