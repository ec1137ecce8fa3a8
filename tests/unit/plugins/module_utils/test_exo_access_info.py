# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of exo_access_info: Graph endpoints per cloud, Retry-After, the EWS policy per app."""

from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_access_info import (
    AccessInfoError,
    ews_for_app,
    graph_endpoint,
    retry_wait,
)

APP = "c4e0403c-7f83-5f8c-a789-3e79d99b1da2"


@pytest.mark.parametrize("cloud, url", [
    ("commercial", "https://graph.microsoft.com"),
    ("gcc_high", "https://graph.microsoft.us"),
    ("dod", "https://dod-graph.microsoft.us"),
    ("china", "https://microsoftgraph.chinacloudapi.cn"),
])
def test_graph_endpoint_follows_the_cloud(cloud, url):
    assert graph_endpoint(cloud) == url


@pytest.mark.parametrize("url", ["http://graph.microsoft.com", "https://graph.microsoft.com/v1.0", "graph.microsoft.com",
                                 "https://graph.microsoft.com?x=1"])
def test_graph_url_must_be_a_bare_https_origin(url):
    with pytest.raises(AccessInfoError):
        graph_endpoint("commercial", url)


@pytest.mark.parametrize("value, wait", [("3", 3.0), ("0", 0.0), ("-5", 0.0), ("1e9", 10.0), ("NaN", 2.0),
                                         ("Infinity", 2.0), (None, 2.0), ("soon", 2.0)])
def test_retry_after_is_bounded(value, wait):
    assert retry_wait(value) == wait


@pytest.mark.parametrize("enabled, entries, listed, allowed", [
    (False, [APP], True, False),
    (None, [], False, True),
    (True, [], False, True),
    (True, ["{%s}" % APP.upper()], True, True),
    (True, ["933cd1fb-b19e-593d-bb75-a749a8395603"], False, False),
])
def test_ews_policy_per_app(enabled, entries, listed, allowed):
    answer = ews_for_app({"ews_enabled": enabled, "ews_allowed_app_ids": entries}, APP)
    assert (answer["listed"], answer["allowed"]) == (listed, allowed)
