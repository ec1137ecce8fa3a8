"""Decoding of the Exchange Online admin API's error shapes (research: exchange-online-rest.md)."""
from __future__ import annotations

import json

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import (
    decode_error,
    explain_error,
    request_class,
    result_from_body,
)

NOT_FOUND = {"error": {"code": "NotFound", "message": "Error executing cmdlet", "details": [{
    "code": "Ex6F9304", "target": "",
    "message": "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
               "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found."}]}}


def test_not_found_on_404_and_on_400():
    for status in (404, 400):
        error = decode_error(status, {}, json.dumps(NOT_FOUND).encode())
        assert error.kind == "not_found"
        assert error.exception_class.endswith("ManagementObjectNotFoundException")
        assert error.message.startswith("The operation couldn't be performed because object 'nobody@contoso.com'")


def test_bad_parameter_is_bad_request_with_the_useful_text():
    body = {"error": {"code": "BadRequest", "message": "Error executing cmdlet", "details": [{
        "message": "Ex1|System.Management.Automation.ParameterBindingException|A parameter cannot be found that matches "
                   "parameter name 'Bogus'."}]}}
    error = decode_error(400, {}, body)
    assert error.kind == "bad_request"
    assert "parameter name 'Bogus'" in error.message


def test_forbidden_with_empty_body_reads_x_ms_diagnostics():
    error = decode_error(403, {"X-MS-Diagnostics": "2000003;reason=\"The user has no role\""}, b"\x00\x00")
    assert error.kind == "forbidden"
    assert "no role" in error.message
    message = explain_error(error)
    assert "Exchange Recipient Administrator" in message and "no role" in message


def test_throttled_carries_retry_after_and_plain_text():
    text = b"You have reached the maximum number of concurrent requests per tenant."
    error = decode_error(429, {"Retry-After": "7"}, text)
    assert error.kind == "throttled"
    assert error.retry_after == 7
    assert "concurrent requests per tenant" in error.message


def test_transient_statuses_and_server_exceptions():
    assert decode_error(503, {}, b"").kind == "transient"
    body = {"error": {"details": [{"message": "X|Microsoft.Exchange.Data.Storage.StorageTransientException|try later"}]}}
    assert decode_error(500, {}, body).kind == "transient"
    assert decode_error(401, {}, b"").kind == "unauthorized"


def test_result_body_value_and_warnings():
    result = result_from_body(json.dumps({"value": [{"a": 1}], "@adminapi.warnings": ["already present"]}))
    assert result.value == [{"a": 1}]
    assert result.warnings == ["already present"]
    assert result_from_body(b"").value == []


def test_request_class_budgets_writes_apart():
    assert request_class("Add-MailboxPermission") == "write"
    assert request_class("Remove-MailboxPermission") == "write"
    assert request_class("Get-MailboxPermission") == "read"
