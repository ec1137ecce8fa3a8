# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The debug_log option of modules that call Exchange Online."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation of the debug_log option that ExoModule adds (module_utils/exo_module.py)."""

    DOCUMENTATION = r'''
options:
  debug_log:
    description:
      - Append a JSON-lines trace of every call to this file on the control node, for a first run against a real tenant
        or a bug report. One line per event; an C(http) event has C(cmdlet), C(host), C(path), C(query_keys), C(status),
        C(headers), C(body_bytes), C(body_keys) and C(seconds), a C(batch) event the outcome of each sub-request.
      - It holds cmdlet names, URL paths, statuses, response headers from an allow-list, the keys and sizes of answers and
        timings. It never holds a token, secret, password, certificate, request body, mailbox data or query value.
      - The file is appended to and kept readable by its owner only (mode 0600, also when it existed before). A path
        that is a symlink is refused before any request, so a planted link cannot redirect the trace.
    type: path
'''
