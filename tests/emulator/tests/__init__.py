"""Tests of the Exchange Online emulator."""
from __future__ import annotations
