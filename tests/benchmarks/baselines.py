"""What people run today, re-implemented faithfully over the same REST API for comparison.

* ``seed``: the legacy guide's pipeline, ``Get-Mailbox -ResultSize unlimited |
  Add-MailboxPermission -User svc -AccessRights FullAccess -InheritanceType All``: one
  Add per mailbox, sequential, AutoMapping left at its default, and the v3 module's
  retry of a throttled request (up to 5 times, after Retry-After).
* ``dsc``: Microsoft365DSC's EXOMailboxPermission: per mailbox, one Get-MailboxPermission
  (Test) and an Add when the grant is missing (Set), sequential.

Both list mailboxes the same way the module does (pages of 1000 by nextLink).
"""
from __future__ import annotations

import json
import time
from collections import Counter

import msal
import requests

from emulator.client import VerifiedHttpClient

ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"


class Baseline:
    """A sequential client with the v3 module's retry behaviour."""

    def __init__(self, info, app="secret"):
        self.info = info
        self.session = requests.Session()
        self.verify = info["ca_path"]
        self.url = "%s/adminapi/beta/%s/InvokeCommand" % (info["exchange_url"], info["tenant_domain"])
        self.by_cmdlet = Counter()
        self.throttled = 0
        self.listing_seconds = 0.0
        self._app = msal.ConfidentialClientApplication(
            info["apps"][app]["client_id"], client_credential=info["apps"][app]["client_secret"],
            authority="%s/%s" % (info["login_url"], info["tenant_domain"]), instance_discovery=False,
            http_client=VerifiedHttpClient(self.verify, session=self.session))

    def _token(self):
        return self._app.acquire_token_for_client(scopes=[self.info["exchange_url"] + "/.default"])["access_token"]

    def invoke(self, cmdlet, parameters, url=None):
        """One cmdlet call; retries 429 five times after Retry-After and 5xx/401 like the v3 module."""
        body = json.dumps({"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}})
        for _attempt in range(6):
            self.by_cmdlet[cmdlet] += 1
            headers = {"Authorization": "Bearer " + self._token(), "Content-Type": "application/json",
                       "X-AnchorMailbox": ANCHOR % self.info["tenant_domain"], "Prefer": "odata.maxpagesize=1000"}
            try:
                response = self.session.post(url or self.url, data=body, headers=headers, verify=self.verify, timeout=120)
            except requests.exceptions.ConnectionError:
                time.sleep(1)
                continue
            if response.status_code == 429:
                self.throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code == 401:
                self._app.remove_tokens_for_client()
                continue
            if response.status_code >= 500:
                time.sleep(1)
                continue
            return response
        return response

    def list_mailboxes(self):
        """Every mailbox's Guid, by nextLink paging; the time it took is kept in ``listing_seconds``."""
        guids, url, started = [], None, time.monotonic()
        while True:
            data = self.invoke("Get-Mailbox", {"ResultSize": "Unlimited"}, url=url).json()
            guids.extend(record["Guid"] for record in data.get("value", []))
            url = data.get("@odata.nextLink")
            if not url:
                self.listing_seconds = time.monotonic() - started
                return guids


def run_seed(info, user, limit=None):
    """The guide's pipeline; returns mailboxes processed and failures."""
    client = Baseline(info)
    guids = client.list_mailboxes()[:limit]
    failed = 0
    for guid in guids:
        response = client.invoke("Add-MailboxPermission", {"Identity": guid, "User": user, "AccessRights": ["FullAccess"],
                                                           "InheritanceType": "All", "Confirm": False})
        failed += response.status_code != 200
    return client, len(guids), failed


def run_dsc(info, user, limit=None):
    """Microsoft365DSC's Test/Set per mailbox; returns mailboxes processed and failures."""
    client = Baseline(info)
    guids = client.list_mailboxes()[:limit]
    failed = 0
    for guid in guids:
        response = client.invoke("Get-MailboxPermission", {"Identity": guid, "User": user})
        if response.status_code != 200:
            failed += 1
            continue
        rows = response.json().get("value", [])
        if not any("FullAccess" in row.get("AccessRights", []) and not row.get("Deny") and not row.get("IsInherited")
                   for row in rows):
            response = client.invoke("Add-MailboxPermission", {"Identity": guid, "User": user, "AccessRights": ["FullAccess"],
                                                               "InheritanceType": "All", "Confirm": False})
            failed += response.status_code != 200
    return client, len(guids), failed
