"""pytest fixtures: ``pytest_plugins = ["emulator.fixtures"]``.

- ``exo_emulator`` (session): one EmulatorProcess with a small tenant (250 mailboxes,
  seed 1, no latency, no throttling), started once per test session.
- ``exo`` (function): the same process after ``POST /_emulator/reset`` (seeded ACLs,
  no added mailboxes, no faults, start config, no revocations, zero stats).
- ``exo_client`` (function): an EmulatorClient (secret app) for that emulator.
"""
from __future__ import annotations

import pytest

from .client import EmulatorClient
from .control import EmulatorProcess

SESSION_OPTIONS = {"mailboxes": 250, "seed": 1, "latency_ms": 0}


@pytest.fixture(scope="session")
def exo_emulator(tmp_path_factory):
    """A running emulator shared by the session (stopped at the end)."""
    process = EmulatorProcess(tmp_path_factory.mktemp("exo-emulator"), **SESSION_OPTIONS)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def exo(exo_emulator):  # pylint: disable=redefined-outer-name
    """The shared emulator, reset to its seeded state for this test."""
    exo_emulator.control.reset()
    return exo_emulator


@pytest.fixture
def exo_client(exo):  # pylint: disable=redefined-outer-name
    """A plain client (secret app) of the reset emulator."""
    return EmulatorClient(exo.info)
