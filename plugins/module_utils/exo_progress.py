# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of a long run, written to a small JSON file for the action plugin to show.

A first run on a large tenant takes minutes; Ansible shows nothing until a module
returns. The action plugin of the same name runs the module in the background and
reads this file while it waits (as ansible.windows.win_updates shows the progress of
long updates). A daemon thread takes a snapshot every few seconds and replaces the file
atomically, so a reader never sees half a document; the module's result does not
depend on it, and the file is removed when the run ends.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time

# Seconds between snapshots; the action plugin shows them at its own, longer interval.
WRITE_INTERVAL = 2.0


class ProgressFile:
    """Writes ``snapshot()`` (a dict) to ``path`` every WRITE_INTERVAL seconds until stop()."""

    def __init__(self, path, snapshot, interval=WRITE_INTERVAL):
        self.path = path
        self.snapshot = snapshot
        self.interval = interval
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="exo-progress", daemon=True)

    def start(self):
        """Begin writing (the first snapshot at once)."""
        self._thread.start()
        return self

    def stop(self):
        """Stop writing and remove the file: the result has the final numbers."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            os.remove(self.path)
        except OSError:
            pass

    def _loop(self):
        while not self._stop.is_set():
            self.write()
            self._stop.wait(self.interval)

    def write(self):
        """One snapshot; progress is best effort, so a failure to write never fails the run."""
        try:
            document = dict(self.snapshot(), seconds=round(time.monotonic() - self.started, 1))
            directory = os.path.dirname(self.path) or "."
            os.makedirs(directory, mode=0o700, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".progress-", dir=directory)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream)
            os.replace(temporary, self.path)
        except Exception:  # pylint: disable=broad-exception-caught
            pass
