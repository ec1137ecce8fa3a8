"""Decoding of the Exchange Online admin API's error shapes (research: exchange-online-rest.md)."""
from __future__ import annotations

import json

import gzip

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import (
    ExoError,
    decode_error,
    explain_error,
    parse_answer,
    parse_page,
    request_class,
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
    result = parse_answer(json.dumps({"value": [{"a": 1}], "@adminapi.warnings": ["already present"]}))
    assert result.value == [{"a": 1}]
    assert result.warnings == ["already present"]


@pytest.mark.parametrize("body", [b"", b"<html><body>Down for maintenance</body></html>", b'{"value": [{"a": 1}',
                                  b'{"value": "x"}', b"[1, 2]", json.dumps({"error": {"code": "Oops", "message": "x"}})])
def test_a_200_that_is_not_an_answer_is_a_transient_error_not_an_empty_success(body):
    with pytest.raises(ExoError) as info:
        parse_page(body, "Get-Mailbox")
    assert info.value.kind == "transient"


def test_a_page_must_carry_value_but_a_write_may_answer_without_it():
    with pytest.raises(ExoError):
        parse_page(json.dumps({"@odata.context": "x"}), "Get-Mailbox")
    assert parse_answer(json.dumps({"@odata.context": "x"}), "Add-MailboxPermission").value is None


def test_adminapi_errors_in_a_200_are_a_failed_call():
    body = {"value": [], "@adminapi.errors": [{"Message": "Ex9|Microsoft.Exchange.Management.Tasks.FooException|"
                                                          "The user could not be added."}]}
    with pytest.raises(ExoError) as info:
        parse_answer(json.dumps(body), "Add-MailboxPermission")
    assert info.value.kind == "cmdlet_error" and "could not be added" in info.value.message
    transient = {"value": [], "@adminapi.errors": ["X|Microsoft.Exchange.Data.Directory.DCOverloadedException|busy"]}
    with pytest.raises(ExoError) as info:
        parse_answer(json.dumps(transient), "Add-MailboxPermission")
    assert info.value.kind == "transient"


def test_gzip_labelled_nul_403_is_the_role_message_naming_the_cmdlet():
    error = decode_error(403, {"Content-Encoding": "gzip", "x-ms-diagnostics": "2000003;reason=\"no role\""},
                         b"\x00" * 16, "Add-MailboxPermission")
    assert error.kind == "forbidden"
    message = explain_error(error)
    assert "Add-MailboxPermission" in message and "Exchange Recipient Administrator" in message
    assert decode_error(403, {}, gzip.compress(b"\x00\x00")).kind == "forbidden"


def test_401_not_allowed_to_call_is_rbac_not_an_expired_token():
    error = decode_error(401, {}, b"User is not allowed to call Add-MailboxPermission.", "Add-MailboxPermission")
    assert error.kind == "rbac" and error.fatal
    assert "new token will not" in explain_error(error)
    challenge = 'Bearer error="insufficient_claims", error_description="User is not allowed to call Get-Mailbox"'
    header_only = decode_error(401, {"WWW-Authenticate": challenge}, b"")
    assert header_only.kind == "rbac"
    assert decode_error(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"").kind == "unauthorized"


def test_concurrency_text_is_throttling_on_any_status_and_retry_after_may_be_decimal():
    text = b"You have reached the maximum number of concurrent requests per tenant. Please wait"
    for status in (503, 500, 400, 429):
        error = decode_error(status, {"Retry-After": "1.5"}, text)
        assert error.kind == "throttled" and error.retry_after == 1.5


@pytest.mark.parametrize("exception", ["DCOverloadedException", "SuitabilityDirectoryException", "ServerInMMException",
                                       "ADServerSettingsChangedException", "StorageTransientException"])
def test_the_v3_modules_transient_exceptions_are_retried(exception):
    body = {"error": {"details": [{"message": "X|Microsoft.Exchange.Foo.%s|try later" % exception}]}}
    assert decode_error(400, {}, json.dumps(body)).kind == "transient"


def test_request_class_budgets_writes_apart():
    assert request_class("Add-MailboxPermission") == "write"
    assert request_class("Remove-MailboxPermission") == "write"
    assert request_class("Get-MailboxPermission") == "read"
