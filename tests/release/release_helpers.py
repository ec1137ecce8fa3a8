"""Paths and a command runner shared by the release checks."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def tool(name: str) -> str:
    """Path of a command installed in the test venv (ansible-galaxy, antsibull-docs, ...)."""
    return os.path.join(BIN, name)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command (with the test venv's commands on PATH), capture its output, and fail the test with that output if it fails."""
    kwargs.setdefault("env", tool_env())
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert completed.returncode == 0, "%s failed (%d):\n%s\n%s" % (
        " ".join(command), completed.returncode, completed.stdout[-4000:], completed.stderr[-4000:])
    return completed


def collections_root(collection_dir: str) -> str:
    """The directory that holds ansible_collections/, for ANSIBLE_COLLECTIONS_PATH."""
    return os.path.dirname(os.path.dirname(os.path.dirname(collection_dir)))


def tool_env(**overrides: str) -> dict[str, str]:
    """The environment with the test venv's commands first on PATH (tools call each other, e.g. ansible-doc)."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(overrides)
    return env
