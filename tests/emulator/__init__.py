"""Exchange Online emulator: an HTTPS server that speaks the Entra ID client-credentials flow
and the Exchange admin REST API (``/adminapi/beta/{tenant}/InvokeCommand`` and ``$batch``)
closely enough for the collection's module tests, demo and benchmarks.

Start it with ``python -m emulator start --state-dir DIR`` (``PYTHONPATH=tests``) or from
Python with :class:`emulator.control.EmulatorProcess`. See README.md in this directory.
"""
from __future__ import annotations

TENANT_DOMAIN = "contoso.onmicrosoft.com"
CUSTOM_DOMAIN = "contoso.com"
EXCHANGE_RESOURCE = "https://outlook.office365.com"
SYSTEM_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
