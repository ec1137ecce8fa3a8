"""The emulator's own tests use its fixtures."""
from __future__ import annotations

from emulator.fixtures import exo, exo_client, exo_emulator  # noqa: F401  pylint: disable=unused-import
