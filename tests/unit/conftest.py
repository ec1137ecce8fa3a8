# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests may run against the Exchange Online emulator in tests/emulator.

ansible-test allows ``pytest_plugins`` only in a root conftest, so this one puts tests/ on
sys.path and imports the emulator's fixtures by name: ``exo_emulator`` (one emulator per
session, started on first use), ``exo`` (reset for each test) and ``exo_client``.
"""

from __future__ import annotations

import os
import sys

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

# pylint: disable-next=wrong-import-position,unused-import,import-error
from emulator.fixtures import exo, exo_client, exo_emulator  # noqa: E402,F401
