"""Get-Mailbox and Get-Recipient: identity, paging, ResultSize, RecipientTypeDetails, OPATH."""
from __future__ import annotations

import json
import time

import pytest

from emulator.cmdlets import RESULT_SIZE_WARNING

pytest_plugins = ["emulator.fixtures"]


def test_records_are_realistic(exo_client):
    record = exo_client.call("Get-Mailbox", {"Identity": "svc-mse@contoso.onmicrosoft.com"})["value"][0]
    for key in ("Identity", "Name", "Alias", "DisplayName", "UserPrincipalName", "PrimarySmtpAddress", "EmailAddresses",
                "RecipientType", "RecipientTypeDetails", "Guid", "ExternalDirectoryObjectId", "ExchangeGuid",
                "CustomAttribute1", "WhenCreated", "HiddenFromAddressListsEnabled", "PersistedCapabilities", "AuditOwner"):
        assert key in record
    assert record["UserPrincipalName"] == "Svc-MSE@contoso.onmicrosoft.com"
    assert record["EmailAddresses"][0] == "SMTP:Svc-MSE@contoso.onmicrosoft.com"
    properties = [key for key in record if "@" not in key]
    assert 240 <= len(properties) <= 260 and len(json.dumps(record)) > 10000
    # OData annotations as in the live answer; Department is a Get-User/Get-Recipient property
    assert record["EmailAddresses@odata.type"] == "#Collection(String)" and record["Guid@odata.type"] == "#Guid"
    assert "Department" not in record
    assert exo_client.call("Get-Recipient", {"Identity": "svc-mse"})["value"][0]["Department"] == "IT"


def test_identity_forms_resolve_case_insensitively(exo_client):
    mailboxes, _warnings, _pages = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, select=[
        "Guid", "ExternalDirectoryObjectId", "UserPrincipalName", "PrimarySmtpAddress", "EmailAddresses", "Alias", "Name",
        "RecipientTypeDetails"])
    target = next(m for m in mailboxes if m["RecipientTypeDetails"] == "UserMailbox" and len(m["EmailAddresses"]) > 1)
    forms = [target["Guid"], target["ExternalDirectoryObjectId"], target["UserPrincipalName"].upper(),
             target["PrimarySmtpAddress"].lower(), target["EmailAddresses"][1].split(":", 1)[1], target["Alias"].upper(),
             target["Name"]]
    for form in forms:
        assert exo_client.call("Get-Mailbox", {"Identity": form})["value"][0]["Guid"] == target["Guid"], form


def test_paging_with_nextlink_keeps_creation_order(exo, exo_client):
    first, _w, pages = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=1000)
    assert pages == 1 and len(first) == 250
    items, warnings, pages = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=40,
                                                 select=["Guid", "UserPrincipalName"])
    assert pages == 7 and not warnings
    assert [m["Guid"] for m in items] == [m["Guid"] for m in first]
    assert items[0]["UserPrincipalName"] == "Svc-MSE@contoso.onmicrosoft.com"
    data = exo_client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=100)
    link = data["@odata.nextLink"]
    prefix = "%s/adminapi/beta/%s/InvokeCommand?%%24skiptoken=" % (exo.info["exchange_url"], exo_client.tenant)
    assert link.startswith(prefix)
    new = exo.control.add_mailboxes(2)
    assert [m["Guid"] for m in exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, select=["Guid"])[0][-2:]] == \
        [m["Guid"] for m in new]


def test_nextlink_expires(exo, exo_client):
    body = {"ResultSize": "Unlimited"}
    link = exo_client.call("Get-Mailbox", body, page_size=10)["@odata.nextLink"]
    assert exo_client.invoke("Get-Mailbox", body, url=link, page_size=10).status_code == 200
    exo.control.add_faults({"kind": "expire_nextlinks"})
    response = exo_client.invoke("Get-Mailbox", body, url=link, page_size=10)
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]["message"]
    assert "InvalidSkipTokenException" in detail and "expired" in detail
    exo.control.config(nextlink_ttl=0.5)
    link = exo_client.call("Get-Mailbox", body, page_size=10)["@odata.nextLink"]
    time.sleep(0.7)
    assert exo_client.invoke("Get-Mailbox", body, url=link, page_size=10).status_code == 400
    exo.control.config(nextlink_ttl=300)
    link = exo_client.call("Get-Mailbox", body, page_size=10)["@odata.nextLink"]
    other = exo_client.invoke("Get-Mailbox", {"ResultSize": 100}, url=link, page_size=10)
    assert other.status_code == 400 and "different request" in other.text


def test_result_size_default_1000_with_warning(exo, exo_client):
    exo.control.add_mailboxes(800)
    guid = ["Guid"]
    data = exo_client.call("Get-Mailbox", select=guid)
    assert len(data["value"]) == 1000 and "@odata.nextLink" not in data
    assert data["@adminapi.warnings"] == [RESULT_SIZE_WARNING]
    items, warnings, pages = exo_client.list_all("Get-Mailbox", page_size=300, select=guid)
    assert len(items) == 1000 and pages == 4 and warnings == [RESULT_SIZE_WARNING]
    items, warnings, _pages = exo_client.list_all("Get-Mailbox", {"ResultSize": "unlimited"}, select=guid)
    assert len(items) == 1050 and not warnings
    data = exo_client.call("Get-Mailbox", {"ResultSize": 10}, select=guid)
    assert len(data["value"]) == 10 and data["@adminapi.warnings"]
    assert exo_client.call("Get-Mailbox", {"ResultSize": 2000}, select=guid)["@adminapi.warnings"] == []


def test_recipient_type_details(exo_client):
    everything, _w, _p = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, select=["RecipientTypeDetails"])
    types = {m["RecipientTypeDetails"] for m in everything}
    assert {"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "DiscoveryMailbox"} <= types
    shared, _w, _p = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited",
                                                         "RecipientTypeDetails": ["SharedMailbox", "RoomMailbox"]},
                                         select=["RecipientTypeDetails"])
    assert shared and {m["RecipientTypeDetails"] for m in shared} == {"SharedMailbox", "RoomMailbox"}
    assert len(shared) == sum(m["RecipientTypeDetails"] in ("SharedMailbox", "RoomMailbox") for m in everything)
    response = exo_client.invoke("Get-Mailbox", {"RecipientTypeDetails": ["Sharedbox"]})
    assert response.status_code == 400 and "ParameterBindingException" in response.text


@pytest.mark.parametrize("expression,check", [
    ("RecipientTypeDetails -eq 'SharedMailbox'", lambda m: m["RecipientTypeDetails"] == "SharedMailbox"),
    ("Department -eq 'sales' -and RecipientTypeDetails -ne 'SharedMailbox'",
     lambda m: m["Department"] == "Sales" and m["RecipientTypeDetails"] != "SharedMailbox"),
    ("(Department -eq 'Sales') -or (Department -eq \"Legal\")", lambda m: m["Department"] in ("Sales", "Legal")),
    ("-not (Department -like 'S*')", lambda m: not m["Department"].lower().startswith("s")),
    ("PrimarySmtpAddress -like '*shared*'", lambda m: "shared" in m["PrimarySmtpAddress"].lower()),
    ("UserPrincipalName -notlike 'a*'", lambda m: not m["UserPrincipalName"].lower().startswith("a")),
    ("CustomAttribute1 -eq 'MSE'", lambda m: m["CustomAttribute1"] == "MSE"),
    ("CustomAttribute1 -eq $null", lambda m: not m["CustomAttribute1"]),
    ("HiddenFromAddressListsEnabled -eq $true", lambda m: m["HiddenFromAddressListsEnabled"]),
    ("DisplayName -like '*O''Brien*' -or Alias -eq 'svc-mse'", lambda m: "o'brien" in m["DisplayName"].lower()
     or m["Alias"] == "svc-mse"),
    ("WhenCreated -gt '2022-06-01'", lambda m: m["WhenCreated"] > "2022-06-01"),
    ("{Name -eq 'svc-mse'}", lambda m: m["Name"] == "svc-mse"),
])
def test_opath_filter(exo_client, expression, check):
    # Get-Recipient shows Department (Get-Mailbox does not); its mailboxes come in the same order
    recipients, _w, _p = exo_client.list_all("Get-Recipient", {"ResultSize": "Unlimited", "RecipientType": "UserMailbox"})
    expected = [m["Guid"] for m in recipients if check(m)]
    found, _w, _p = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited", "Filter": expression}, page_size=50,
                                        select=["Guid"])
    assert [m["Guid"] for m in found] == expected
    assert expected or "O''Brien" in expression


@pytest.mark.parametrize("expression,reason", [
    ("Department -eq ", "Invalid filter syntax"),
    ("Department -equals 'x'", "Invalid filter syntax"),
    ("(Department -eq 'x'", "Invalid filter syntax"),
    ("Department -eq 'unterminated", "Invalid filter syntax"),
    ("Colour -eq 'red'", "'Colour' is not a recognized filterable property"),
])
def test_bad_filter(exo_client, expression, reason):
    response = exo_client.invoke("Get-Mailbox", {"Filter": expression})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]["message"]
    code, exception, text = detail.split("|", 2)
    assert code.startswith("Ex") and exception == "Microsoft.Exchange.Management.Tasks.ParserException"
    assert text.startswith("Cannot bind parameter 'Filter'") and reason in text


def test_get_recipient_includes_non_mailboxes(exo_client):
    items, _w, _p = exo_client.list_all("Get-Recipient", {"ResultSize": "Unlimited"})
    types = {r["RecipientTypeDetails"] for r in items}
    assert {"MailUser", "GuestMailUser", "MailContact", "MailUniversalSecurityGroup", "MailUniversalDistributionGroup",
            "UserMailbox"} <= types
    assert len(items) == 257
    user = exo_client.call("Get-Recipient", {"Identity": "mailuser1@contoso.onmicrosoft.com"})["value"][0]
    assert user["RecipientTypeDetails"] == "MailUser" and user["RecipientType"] == "MailUser"
    assert exo_client.invoke("Get-Mailbox", {"Identity": "mailuser1@contoso.onmicrosoft.com"}).status_code == 404
    groups = exo_client.call("Get-Recipient", {"RecipientTypeDetails": "MailUniversalSecurityGroup"})["value"]
    assert {g["Name"] for g in groups} == {"Helpdesk Team", "sec-group"}
    contact = exo_client.call("Get-Recipient", {"Identity": "john.partner@fabrikam.com"})["value"][0]
    assert contact["RecipientTypeDetails"] == "MailContact"


def test_identity_not_found_is_404(exo_client):
    response = exo_client.invoke("Get-Mailbox", {"Identity": "nobody@contoso.onmicrosoft.com"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NotFound" and error["message"] == "Error executing cmdlet"
    assert error["details"][0]["message"] == (
        "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be "
        "performed because object 'nobody@contoso.onmicrosoft.com' couldn't be found on "
        "'AMSPR01A005DC01.EURPR01A005.prod.outlook.com'.")
    assert "innererror" in error
    assert exo_client.invoke("Get-Recipient", {"Identity": "nobody"}).status_code == 404


# -- directory times: WhenCreated/WhenChanged filters and the service's clock ------------------

def _changed_since(exo_client, when, prop="WhenChangedUTC"):
    found, _w, _p = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited", "Filter": "%s -gt '%s'" % (
        prop, when.strftime("%m/%d/%Y %I:%M:%S %p"))}, select=["Guid", "UserPrincipalName", "WhenChangedUTC"])
    return found


def _service_now(exo_client):
    import email.utils  # pylint: disable=import-outside-toplevel
    response = exo_client.invoke("Get-Mailbox", {"Identity": "svc-mse"})
    return email.utils.parsedate_to_datetime(response.headers["Date"])


def test_date_filters_take_the_documented_en_us_format_and_see_new_mailboxes(exo, exo_client):
    import datetime  # pylint: disable=import-outside-toplevel
    before = _service_now(exo_client) - datetime.timedelta(seconds=1)
    assert _changed_since(exo_client, before) == []
    added = exo.control.add_mailboxes(count=2)
    for prop in ("WhenChangedUTC", "WhenCreatedUTC", "WhenMailboxCreated", "WhenChanged", "WhenCreated"):
        assert {m["Guid"] for m in _changed_since(exo_client, before, prop)} == {m["Guid"] for m in added}, prop
    # ISO 8601 and a date alone are read too; a value that is no date is a filter error
    iso, _w, _p = exo_client.list_all("Get-Mailbox", {"Filter": "WhenChangedUTC -gt '%s'" % before.strftime(
        "%Y-%m-%dT%H:%M:%SZ")}, select=["Guid"])
    assert len(iso) == 2
    response = exo_client.invoke("Get-Mailbox", {"Filter": "WhenChangedUTC -gt 'yesterday'"})
    assert response.status_code == 400 and "Invalid filter syntax" in response.text


def test_permission_writes_and_attribute_changes_move_when_changed(exo, exo_client):
    import datetime  # pylint: disable=import-outside-toplevel
    rows = exo.control.mailboxes(offset=5, limit=2)["mailboxes"]
    before = _service_now(exo_client) - datetime.timedelta(seconds=1)
    exo_client.call("Add-MailboxPermission", {"Identity": rows[0]["Guid"], "User": exo.info["service_account"],
                                              "AccessRights": ["FullAccess"], "AutoMapping": False})
    exo.control.update_mailbox(rows[1]["Guid"], department="Sales")
    changed = _changed_since(exo_client, before)
    assert {m["Guid"] for m in changed} == {rows[0]["Guid"], rows[1]["Guid"]}
    assert all(m["WhenChangedUTC"].endswith("Z") for m in changed)
    exo.control.reset()
    assert _changed_since(exo_client, before) == []
    assert exo.control.mailboxes(offset=6, limit=1)["mailboxes"][0]["Department"] == rows[1]["Department"]


def test_clock_skew_moves_the_date_header_and_the_directory_times(exo, exo_client):
    import datetime  # pylint: disable=import-outside-toplevel
    exo.control.config(clock_skew=-7200)
    service = _service_now(exo_client)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - service).total_seconds() - 7200) < 5
    added = exo.control.add_mailboxes(count=1)[0]
    assert abs(datetime.datetime.fromisoformat(added["WhenCreatedUTC"][:19]).replace(
        tzinfo=datetime.timezone.utc).timestamp() - service.timestamp()) < 5
