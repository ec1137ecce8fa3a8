# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classify the account a Windows service should run as."""

from __future__ import annotations

from dataclasses import dataclass

# Spellings Windows and win_service accept for the built-in service accounts, and the
# name each is best passed to win_service as.
_BUILTIN = {
    "localsystem": "LocalSystem",
    "system": "LocalSystem",
    "nt authority\\system": "LocalSystem",
    ".\\localsystem": "LocalSystem",
    "networkservice": "NT AUTHORITY\\NetworkService",
    "network service": "NT AUTHORITY\\NetworkService",
    "nt authority\\networkservice": "NT AUTHORITY\\NetworkService",
    "nt authority\\network service": "NT AUTHORITY\\NetworkService",
    "localservice": "NT AUTHORITY\\LocalService",
    "local service": "NT AUTHORITY\\LocalService",
    "nt authority\\localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\local service": "NT AUTHORITY\\LocalService",
}


@dataclass(frozen=True)
class Account:
    """An account name and what it implies for a service."""

    name: str  # as passed to win_service and win_user_right
    kind: str  # builtin, gmsa, local, domain, upn, unqualified

    @property
    def needs_password(self):
        """Built-in accounts and gMSAs have no password the service configuration holds."""
        return self.kind not in ("builtin", "gmsa")

    @property
    def needs_logon_right(self):
        """Built-in accounts hold SeServiceLogonRight already."""
        return self.kind != "builtin"


def classify(name):
    """Return the Account for NAME (DOMAIN\\user, .\\user, user@domain, DOMAIN\\gmsa$, built-ins)."""
    text = (name or "").strip()
    if not text:
        raise ValueError("account must not be empty")
    builtin = _BUILTIN.get(text.lower())
    if builtin:
        return Account(builtin, "builtin")
    if "\\" in text:
        domain, _sep, user = text.partition("\\")
        if not domain or not user or "\\" in user:
            raise ValueError("account %r is not DOMAIN\\user, .\\user or user@domain" % text)
        if user.endswith("$"):
            return Account(text, "gmsa")
        return Account(text, "local" if domain == "." else "domain")
    if "@" in text:
        user, _sep, domain = text.partition("@")
        if not user or not domain or "@" in domain:
            raise ValueError("account %r is not DOMAIN\\user, .\\user or user@domain" % text)
        return Account(text, "upn")
    if text.endswith("$"):
        return Account(text, "gmsa")
    return Account(text, "unqualified")


def same_account(left, right):
    """Best-effort comparison of two account names as the controller sees them (no SID lookup)."""
    if not left or not right:
        return False
    try:
        a, b = classify(left), classify(right)
    except ValueError:
        return left.lower() == right.lower()
    return a.name.lower() == b.name.lower()
