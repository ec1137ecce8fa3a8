"""Microsoft Graph read endpoints (graph.py): service principal by appId, its app role assignments."""
from __future__ import annotations

import requests

from emulator.auth import GRAPH_RESOURCE
from emulator.client import EmulatorClient

pytest_plugins = ["emulator.fixtures"]

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"


def control(exo, **changes):
    """GET (no changes) or POST /_emulator/graph."""
    return exo.control.graph(**changes)


def mse_app(exo):
    response = requests.get(exo.info["control_url"] + "/org", verify=exo.ca_path, timeout=30)
    return response.json()["entra_service_principals"]["mse"]


def graph_token(exo, app="secret"):
    return EmulatorClient(exo.info, app=app).token_response(scope=GRAPH_RESOURCE + "/.default").json()["access_token"]


def get(exo, path, token, **params):
    url = path if path.startswith("https://") else exo.info["base_url"] + path
    return requests.get(url, params=params, headers={"Authorization": "Bearer " + token}, verify=exo.ca_path, timeout=30)


def test_service_principal_by_app_id_and_permissions_resolved_through_app_roles(exo):
    token = graph_token(exo)
    control(exo, permissions={"mse": {"exchange": ["full_access_as_app"], "graph": ["Mail.ReadWrite"]}})
    mse = mse_app(exo)
    found = get(exo, "/v1.0/servicePrincipals", token, **{"$filter": "appId eq '%s'" % mse["app_id"]}).json()["value"]
    assert [(sp["id"], sp["appId"]) for sp in found] == [(mse["object_id"], mse["app_id"])]
    rows = get(exo, "/v1.0/servicePrincipals/%s/appRoleAssignments" % mse["object_id"], token).json()["value"]
    names = set()
    for row in rows:
        resource = get(exo, "/v1.0/servicePrincipals/%s" % row["resourceId"], token).json()
        names.add((resource["appId"], next(r["value"] for r in resource["appRoles"] if r["id"] == row["appRoleId"])))
    assert names == {(EXCHANGE_APP_ID, "full_access_as_app"), ("00000003-0000-0000-c000-000000000000", "Mail.ReadWrite")}


def test_unknown_app_is_an_empty_collection(exo):
    unknown = "00000000-0000-0000-0000-000000000000"
    answer = get(exo, "/v1.0/servicePrincipals", graph_token(exo), **{"$filter": "appId eq '%s'" % unknown})
    assert answer.status_code == 200 and answer.json()["value"] == []


def test_assignments_page_with_next_link(exo):
    control(exo, page_size=1, permissions={"mse": {"graph": ["Mail.Read", "Calendars.Read", "Contacts.Read"]}})
    token, mse = graph_token(exo), mse_app(exo)
    page = get(exo, "/v1.0/servicePrincipals/%s/appRoleAssignments" % mse["object_id"], token).json()
    seen = list(page["value"])
    while "@odata.nextLink" in page:
        page = get(exo, page["@odata.nextLink"], token).json()
        seen.extend(page["value"])
    assert len(seen) == 3 and len({row["id"] for row in seen}) == 3


def test_exchange_token_is_refused_401_and_missing_permission_403(exo):
    exchange_token = EmulatorClient(exo.info).token()
    refused = get(exo, "/v1.0/servicePrincipals", exchange_token, **{"$filter": "appId eq '%s'" % EXCHANGE_APP_ID})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    denied = get(exo, "/v1.0/servicePrincipals", graph_token(exo, app="no_role"),
                 **{"$filter": "appId eq '%s'" % EXCHANGE_APP_ID})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"


def test_reset_reseeds_the_permissions(exo):
    control(exo, permissions={"mse": {"exchange": ["full_access_as_app"]}})
    assert mse_app(exo)["app_id"] in control(exo)["permissions"]
    exo.control.reset()
    assert mse_app(exo)["app_id"] not in control(exo)["permissions"]
