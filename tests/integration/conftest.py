"""Integration tests run ansible-playbook against the Exchange Online emulator."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

pytest_plugins = ["emulator.fixtures"]
