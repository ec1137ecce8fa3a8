# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests may run against the Exchange Online emulator in tests/emulator.

ansible-test allows ``pytest_plugins`` only in a root conftest, so this one puts tests/ on
sys.path and provides the emulator's fixtures by name: ``exo_emulator`` (one emulator for
the run), ``exo`` (reset for each test) and ``exo_client`` (see tests/emulator/README.md).

ansible-test runs every test in a forked child (its ``ansible_forked`` plugin): a session
fixture would start an emulator in each child and never stop it. So the emulator starts
in the forking process once collection shows a test needs it, and stops at session end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

# pylint: disable-next=wrong-import-position,import-error
from emulator.control import EmulatorControl, EmulatorProcess  # noqa: E402
# pylint: disable-next=wrong-import-position,unused-import,import-error
from emulator.fixtures import SESSION_OPTIONS, exo, exo_client  # noqa: E402,F401

_SHARED = {}


def pytest_collection_finish(session):
    """Start one emulator when a collected test needs it."""
    if any("exo_emulator" in getattr(item, "fixturenames", ()) for item in session.items):
        state_dir = tempfile.mkdtemp(prefix="exo-emulator-")
        _SHARED["state_dir"] = state_dir
        _SHARED["process"] = EmulatorProcess(state_dir, **SESSION_OPTIONS).start()


def pytest_sessionfinish(session):
    """Stop the emulator this process started."""
    del session
    process = _SHARED.pop("process", None)
    if process is not None:
        process.stop()
        shutil.rmtree(_SHARED.pop("state_dir"), ignore_errors=True)


@pytest.fixture(scope="session")
def exo_emulator():
    """The running emulator, with a control client of this process (a forked child must not share the parent's connections)."""
    process = _SHARED.get("process")
    if process is None:
        pytest.fail("the emulator was not started at collection time")
    process.control = EmulatorControl(process.info)
    return process
