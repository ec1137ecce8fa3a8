"""A small, plain client of the emulator for tests and scripts (not the collection's client).

It asks the token endpoint directly (client secret) and posts cmdlets as the
ExchangeOnlineManagement v3 module does; ``VerifiedHttpClient`` lets MSAL talk to the
emulator with its CA.
"""
from __future__ import annotations

import requests

from . import EXCHANGE_RESOURCE

ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"


class VerifiedHttpClient:
    """An MSAL ``http_client`` that verifies the emulator with its CA on every request.

    (REQUESTS_CA_BUNDLE would override ``Session.verify``; a per-request verify= wins.)
    """

    def __init__(self, ca_path, session=None):
        self.ca_path = ca_path
        self.session = session or requests.Session()

    def post(self, url, **kwargs):
        """POST with verify=ca_path."""
        kwargs["verify"] = self.ca_path
        return self.session.post(url, **kwargs)

    def get(self, url, **kwargs):
        """GET with verify=ca_path."""
        kwargs["verify"] = self.ca_path
        return self.session.get(url, **kwargs)

    def close(self):
        """Close the session."""
        self.session.close()


class EmulatorClient:
    """Token + InvokeCommand + $batch against a running emulator (``info`` = emulator.json)."""

    def __init__(self, info, app="secret", tenant=None, session=None):
        self.info = info
        self.app = info["apps"][app]
        self.tenant = tenant or info["tenant_id"]
        self.session = session or requests.Session()
        self.verify = info["ca_path"]
        self.invoke_url = "%s/adminapi/beta/%s/InvokeCommand" % (info["exchange_url"], self.tenant)
        self.batch_url = "%s/adminapi/beta/%s/$batch" % (info["exchange_url"], self.tenant)
        self._token = None

    def token_response(self, scope=EXCHANGE_RESOURCE + "/.default", tenant=None, **form):
        """The raw token endpoint response for this app's secret (form overrides fields)."""
        data = {"grant_type": "client_credentials", "client_id": self.app["client_id"], "scope": scope}
        if "client_secret" in self.app:
            data["client_secret"] = self.app["client_secret"]
        data.update(form)
        data = {key: value for key, value in data.items() if value is not None}
        url = "%s/%s/oauth2/v2.0/token" % (self.info["login_url"], tenant or self.info["tenant_domain"])
        return self.session.post(url, data=data, verify=self.verify, timeout=30)

    def token(self, renew=False):
        """An access token (cached until renew=True)."""
        if renew or self._token is None:
            response = self.token_response()
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def headers(self, token=None, page_size=None, **extra):
        """Request headers as the v3 module sends them (Populate-Headers)."""
        headers = {"Authorization": "Bearer " + (token or self.token()),
                   "X-AnchorMailbox": ANCHOR % self.info["tenant_domain"], "X-ClientApplication": "EmulatorTests",
                   "Accept-Language": "en-US"}
        if page_size:
            headers["Prefer"] = "odata.maxpagesize=%d" % page_size
        headers.update(extra)
        return headers

    @staticmethod
    def body(cmdlet, parameters=None):
        """The InvokeCommand body."""
        return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}

    def url(self, select=None):
        """The InvokeCommand URL, with ?$select=... when select (a list of property names) is given."""
        if select is None:
            return self.invoke_url
        return "%s?%%24select=%s" % (self.invoke_url, ",".join(select))

    def invoke(self, cmdlet, parameters=None, url=None, token=None, page_size=None, headers=None, timeout=60, select=None):
        """POST one cmdlet; returns the requests.Response. Headers set to None are left out."""
        merged = self.headers(token, page_size, **(headers or {}))
        merged = {key: value for key, value in merged.items() if value is not None}
        return self.session.post(url or self.url(select), json=self.body(cmdlet, parameters), headers=merged,
                                 verify=self.verify, timeout=timeout)

    def invoke_raw(self, cmdlet, parameters=None):
        """POST one cmdlet and read the body without decoding (a 403 is NUL bytes labelled gzip): (response, bytes)."""
        response = self.session.post(self.invoke_url, json=self.body(cmdlet, parameters), headers=self.headers(),
                                     verify=self.verify, timeout=30, stream=True)
        return response, response.raw.read(decode_content=False)

    def call(self, cmdlet, parameters=None, **kwargs):
        """POST one cmdlet that must succeed; returns the decoded body."""
        response = self.invoke(cmdlet, parameters, **kwargs)
        if response.status_code != 200:
            raise AssertionError("%s answered %s: %s" % (cmdlet, response.status_code, response.text[:500]))
        return response.json()

    def list_all(self, cmdlet, parameters=None, page_size=1000, select=None):
        """Follow @odata.nextLink; returns (items, warnings, pages)."""
        items, warnings, pages, url = [], [], 0, None
        while True:
            data = self.call(cmdlet, parameters, url=url, page_size=page_size, select=select)
            pages += 1
            items.extend(data["value"])
            warnings.extend(data.get("@adminapi.warnings", []))
            url = data.get("@odata.nextLink")
            if not url:
                return items, warnings, pages

    def batch_payload(self, calls, token=None, absolute=True, sub_headers=None):
        """The $batch body for (id, cmdlet, parameters) calls; every sub-request carries the full header set
        (as the v3 module's AddTo-BatchRequest and CIPP do). sub_headers override them; None removes one."""
        url = self.invoke_url if absolute else "/adminapi/beta/%s/InvokeCommand" % self.tenant
        requests = []
        for call_id, cmdlet, parameters in calls:
            headers = self.headers(token, **{"Content-Type": "application/json", "X-CmdletName": cmdlet})
            headers.update(sub_headers or {})
            requests.append({"id": str(call_id), "method": "POST", "url": url, "body": self.body(cmdlet, parameters),
                             "headers": {key: value for key, value in headers.items() if value is not None}})
        return {"requests": requests}

    def batch(self, calls, token=None, headers=None, absolute=True, sub_headers=None):
        """POST a $batch of (id, cmdlet, parameters); returns the requests.Response."""
        payload = self.batch_payload(calls, token, absolute, sub_headers)
        merged = self.headers(token, **(headers or {}))
        merged = {key: value for key, value in merged.items() if value is not None}
        return self.session.post(self.batch_url, json=payload, headers=merged, verify=self.verify, timeout=60)
