#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: o365_app_access_info
short_description: Report how Entra apps reach Exchange Online mailboxes (EWS policy, RBAC for Applications, Entra, FullAccess)
version_added: 1.0.0
description:
  - Answers "can the MSE app reach these mailboxes, and through what?" in one read-only report, for one or more apps by
    Application (client) ID. It never changes anything.
  - The organisation's EWS policy. C(EwsEnabled) and whether each app is in C(EwsAllowedAppIDs), read with
    C(Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy) (a plain read does not return the list) in every public
    shape of the list, and what that means today and on 1 April 2027.
  - Mailbox-level EWS. How many mailboxes in scope have their own C(EwsEnabled) false (C(Get-CASMailbox)), with a list
    of at most O(report_limit). The mailboxes are chosen with the same options as
    M(mimecast_mse.sync_engine.o365_mailbox_fullaccess).
  - RBAC for Applications. The app's service principal pointer, every role assignment it holds (role, kind of scope,
    the management scope's recipient filter or the administrative unit), and C(Test-ServicePrincipalAuthorization) for
    O(test_mailboxes).
  - Entra application permissions, optionally, with O(graph_access_token). The app's application permissions on Office
    365 Exchange Online and Microsoft Graph (C(full_access_as_app), C(Mail.*), C(Calendars.*), C(MailboxItem.*)...)
    read from Microsoft Graph, each flagged when it makes a scoped RBAC assignment of the same access moot (Entra and
    RBAC grants add up).
  - A legacy trustee's FullAccess, optionally, with O(trustee). On how many mailboxes in scope it holds FullAccess,
    trusting O(state_file) as M(mimecast_mse.sync_engine.o365_mailbox_fullaccess) does.
  - A verdict per path. C(app_rbac) and C(app_tenant_wide) per app, C(fullaccess) for the trustee. Each is
    V(ends_2027_04_01) (works today; EWS in Exchange Online ends on 1 April 2027, so every path here ends then),
    V(not_ready) with the reasons, or V(unknown) (C(app_tenant_wide) without O(graph_access_token)).
  - Every listing is complete (every page followed) and an answer of an unexpected shape fails the task, so a CI job can
    compare the result with what it expects and fail on drift.
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
extends_documentation_fragment:
  - mimecast_mse.sync_engine.exo_auth
  - mimecast_mse.sync_engine.exo_debug
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action_group:
    support: full
    membership: [mimecast_mse.sync_engine.exchange_online]
  check_mode:
    support: full
    description: The module only reads; check mode runs it the same way.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (with C(delegate_to) V(localhost)), not on a Windows host.
options:
  app_ids:
    description:
      - Application (client) IDs, as GUIDs, of the apps to report on, for example MSE's Client ID.
    type: list
    elements: str
    required: true
  check_mailboxes:
    description:
      - Count the mailboxes in scope whose own C(EwsEnabled) is false. This lists every mailbox in scope (pages of 1000).
    type: bool
    default: true
  mailboxes:
    description:
      - Only these mailboxes (UPN, SMTP address, alias or GUID); all must exist.
      - Mutually exclusive with O(filter) and O(recipient_type_details).
    type: list
    elements: str
  recipient_type_details:
    description:
      - Only mailboxes of these types, for example V(UserMailbox), V(SharedMailbox). Evaluated by Exchange Online.
    type: list
    elements: str
  filter:
    description:
      - An OPATH filter for C(Get-Mailbox -Filter), for example V(Department -eq 'Sales').
    type: str
  exclude:
    description:
      - Mailboxes left out of the counts, by UPN, SMTP address, alias or GUID, in any case.
    type: list
    elements: str
    default: []
  query:
    description:
      - A JMESPath expression evaluated on each C(Get-Mailbox) record; mailboxes for which it is false are left out.
    type: str
  test_mailboxes:
    description:
      - Mailboxes to run C(Test-ServicePrincipalAuthorization -Resource) for, per app that has a pointer. All must exist.
      - Its answer reads the role assignments directly; live access follows within 30 minutes to 2 hours.
    type: list
    elements: str
    default: []
  graph_access_token:
    description:
      - A Microsoft Graph access token (scope C(https://graph.microsoft.com/.default) or the national cloud's) of an app
        that holds the Microsoft Graph application permission C(Application.Read.All), the least privilege Microsoft names
        for listing service principals and their app role assignments.
      - Without it, the Entra permissions are not read and the C(app_tenant_wide) verdict is V(unknown).
      - Sent only to O(graph_url), never across a redirect.
    type: str
  graph_url:
    description:
      - Base URL of Microsoft Graph, https only. Default from O(cloud) - V(https://graph.microsoft.com),
        V(https://graph.microsoft.us) (gcc_high), V(https://dod-graph.microsoft.us) (dod),
        V(https://microsoftgraph.chinacloudapi.cn) (china). Set it only for a test service.
    type: str
  trustee:
    description:
      - UPN or primary SMTP address of a legacy MSE service account; reports on how many mailboxes in scope it holds
        FullAccess. Its own mailbox is left out.
    type: str
  state_file:
    description:
      - The state file of M(mimecast_mse.sync_engine.o365_mailbox_fullaccess); mailboxes whose grant it recorded as
        verified less than O(state_max_age) hours ago are counted without a request. Read, never written.
    type: path
  state_max_age:
    description:
      - Hours a verified grant in O(state_file) is trusted. V(0) reads every mailbox.
    type: int
    default: 168
  max_concurrency:
    description:
      - Upper bound of C($batch) requests in flight at once when mailboxes are read one by one.
    type: int
    default: 16
  report_limit:
    description:
      - At most this many mailboxes are listed in each list of the result; counts are complete. V(0) means no limit.
    type: int
    default: 100
notes:
  - The app that runs this module needs C(Exchange.ManageAsApp) and an Entra role that may read the organisation
    configuration, role assignments and mailbox permissions. C(Exchange Administrator) covers every cmdlet used; a
    read-only role such as C(Global Reader) should cover the C(Get-) cmdlets, but whether it may run
    C(Test-ServicePrincipalAuthorization) is not verified.
  - Mimecast does not publish which path a given MSE uses; the report shows every path so you can match it to yours.
seealso:
  - name: RBAC for Applications in Exchange Online
    description: Scopes, assignments and Test-ServicePrincipalAuthorization.
    link: https://learn.microsoft.com/exchange/permissions-exo/application-rbac
  - name: List appRoleAssignments granted to a service principal
    description: The Graph call behind the Entra part, and its permission.
    link: https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments
  - module: mimecast_mse.sync_engine.o365_ews_access
  - module: mimecast_mse.sync_engine.o365_app_mailbox_access
  - module: mimecast_mse.sync_engine.o365_mailbox_fullaccess
'''

EXAMPLES = r'''
- name: How does the MSE app reach the Sales mailboxes?
  mimecast_mse.sync_engine.o365_app_access_info:
    app_ids: ["{{ mse_app_client_id }}"]
    filter: "Department -eq 'Sales'"
    test_mailboxes: [alice@contoso.com]
    graph_access_token: "{{ graph_token }}"
  delegate_to: localhost
  run_once: true
  register: access

- name: CI - fail on drift from the scoped setup
  ansible.builtin.assert:
    that:
      - access.ews_policy.ews_enabled
      - access.apps[mse_app_client_id].ews.allowed
      - access.apps[mse_app_client_id].verdicts.app_rbac.status == 'ends_2027_04_01'
      - access.apps[mse_app_client_id].verdicts.app_tenant_wide.status == 'not_ready'
      - access.mailboxes.ews_disabled_count == 0
    fail_msg: "{{ access.apps[mse_app_client_id].verdicts }}"

- name: Legacy service account - on how many mailboxes does it hold FullAccess?
  mimecast_mse.sync_engine.o365_app_access_info:
    app_ids: ["{{ mse_app_client_id }}"]
    trustee: svc-mse@contoso.com
    state_file: /var/lib/mse/fullaccess.json
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
ews_policy:
  description: The organisation's EWS policy as read; the allow list as stored.
  returned: always
  type: dict
  sample: {"ews_enabled": true, "ews_allowed_app_ids": ["c4e0403c-7f83-5f8c-a789-3e79d99b1da2"]}
mailboxes:
  description:
    - With O(check_mailboxes), the mailboxes in scope whose own C(EwsEnabled) is false (primary SMTP addresses, at most
      O(report_limit)). C(failed) lists mailboxes that could not be read (an explicit O(mailboxes) list).
  returned: when O(check_mailboxes) is true
  type: dict
  sample: {"selected": 250, "ews_disabled_count": 2, "ews_disabled": ["a.b@contoso.com", "room12@contoso.com"],
           "truncated": false, "failed": []}
apps:
  description:
    - One entry per app ID (canonical lower-case GUID).
    - C(ews) is the organisation's policy for the app - C(listed), C(allowed) (today), C(meaning), C(on_2027_04_01).
    - C(service_principal) is the Exchange pointer (V(null) when there is none); C(assignments) every role assignment it
      holds with C(name), C(role), C(scope_type) (V(scope), V(admin_unit), V(organization)), C(scope),
      C(recipient_filter) and C(admin_unit).
    - C(authorization_tests) has one row per mailbox of O(test_mailboxes) and role - C(mailbox), C(role), C(in_scope),
      C(scope_type), C(allowed_resource_scope).
    - C(entra) says whether it was C(read), and lists C(permissions) with C(resource), C(resource_app_id),
      C(permission), C(mailbox_access) and C(makes_scoped_rbac_moot) (the scoped assignments it makes moot).
    - C(verdicts) has C(app_rbac) and C(app_tenant_wide), each with C(status), C(reasons) (why not ready) and C(notes).
  returned: always
  type: dict
  sample:
    c4e0403c-7f83-5f8c-a789-3e79d99b1da2:
      ews: {"listed": true, "allowed": true, "meaning": "EwsEnabled is true and the app is in EwsAllowedAppIDs.",
            "on_2027_04_01": "EWS in Exchange Online is switched off for every app; this policy no longer matters."}
      service_principal: {"app_id": "c4e0403c-7f83-5f8c-a789-3e79d99b1da2", "identity": "5e0d...", "display_name": "MSE"}
      assignments: [{"name": "EWS.AccessAsApp-c4e0403c-7f83-5f8c-a789-3e79d99b1da2", "role": "Application EWS.AccessAsApp",
                     "scope_type": "scope", "scope": "MSE-c4e0403c-7f83-5f8c-a789-3e79d99b1da2",
                     "recipient_filter": "Department -eq 'Sales'", "admin_unit": null}]
      authorization_tests: [{"mailbox": "alice@contoso.com", "role": "Application EWS.AccessAsApp", "in_scope": true,
                             "scope_type": "CustomRecipientScope", "allowed_resource_scope": "MSE-c4e0..."}]
      entra: {"read": true, "service_principal_id": "9f1c...", "permissions": [
              {"resource": "Office 365 Exchange Online", "resource_app_id": "00000002-0000-0ff1-ce00-000000000000",
               "permission": "full_access_as_app", "mailbox_access": true,
               "makes_scoped_rbac_moot": ["EWS.AccessAsApp-c4e0403c-7f83-5f8c-a789-3e79d99b1da2"]}]}
      verdicts:
        app_rbac: {"status": "ends_2027_04_01", "reasons": [], "notes": ["the app also holds full_access_as_app ..."]}
        app_tenant_wide: {"status": "ends_2027_04_01", "reasons": [], "notes": []}
fullaccess:
  description:
    - With O(trustee), on how many mailboxes in scope it holds FullAccess (C(with_fullaccess), of which
      C(verified_from_state) were trusted from O(state_file)), those without it (at most O(report_limit)), mailboxes that
      could not be read, and the C(verdict) of the legacy path.
  returned: when O(trustee) is given
  type: dict
  sample: {"trustee": "svc-mse@contoso.com", "selected": 249, "with_fullaccess": 240, "verified_from_state": 200,
           "without_fullaccess_count": 9, "without_fullaccess": ["new.user@contoso.com"], "truncated": true,
           "failed": [], "verdict": {"status": "not_ready", "reasons": ["a legacy MSE signs in ..."], "notes": []}}
verdicts:
  description: The status of every path in one place, for an assert - C(<app id>) -> C(app_rbac), C(app_tenant_wide); and
    C(fullaccess) with O(trustee).
  returned: always
  type: dict
  sample: {"c4e0403c-7f83-5f8c-a789-3e79d99b1da2": {"app_rbac": "ends_2027_04_01", "app_tenant_wide": "unknown"}}
requests:
  description: What the run cost against the tenant's throttling budget (Exchange Online), and C(graph_requests).
  returned: always
  type: dict
  sample: {"http_requests": 9, "batches": 0, "throttled": 0, "retries": 0, "token_renewals": 0, "graph_requests": 4,
           "by_cmdlet": {"Get-OrganizationConfig": 2, "Get-ServicePrincipal": 1}}
'''

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_access_info import (
    AccessInfoError,
    GraphReader,
    RbacListing,
    app_verdicts,
    ews_for_app,
    flag_moot,
    fullaccess_counts,
    fullaccess_verdict,
    graph_endpoint,
    read_ews_policy,
    authorization_tests_for,
    today,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_mailboxes import find_blocked, select_mailboxes
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import check_app_ids
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_module import ExoModule
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_report import limited
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import (
    JMESPATH_IMPORT_ERROR,
    check_address,
    check_selection,
    resolve_trustee,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_state import VerifiedGrants

SELECTION_OPTIONS = ("mailboxes", "recipient_type_details", "filter", "query")
READ_ROLES = ("an Entra role that may read the organisation configuration, role assignments and mailbox permissions: "
              "'Exchange Administrator' covers every cmdlet this module runs ('Global Reader' should cover the Get- "
              "cmdlets; not verified for Test-ServicePrincipalAuthorization)")
ARGUMENT_SPEC = dict(
    app_ids=dict(type="list", elements="str", required=True),
    check_mailboxes=dict(type="bool", default=True),
    mailboxes=dict(type="list", elements="str"),
    recipient_type_details=dict(type="list", elements="str"),
    filter=dict(type="str"),
    exclude=dict(type="list", elements="str", default=[]),
    query=dict(type="str"),
    test_mailboxes=dict(type="list", elements="str", default=[]),
    graph_access_token=dict(type="str", no_log=True),
    graph_url=dict(type="str"),
    trustee=dict(type="str"),
    state_file=dict(type="path"),
    state_max_age=dict(type="int", default=168),
    max_concurrency=dict(type="int", default=16),
    report_limit=dict(type="int", default=100),
)


def check_params(params):
    """Fail on bad input before anything is sent; returns the app IDs as canonical GUIDs."""
    app_ids = check_app_ids("app_ids", params["app_ids"])
    check_selection(params)
    given = [name for name in SELECTION_OPTIONS if params[name] is not None] + (["exclude"] if params["exclude"] else [])
    if given and not (params["check_mailboxes"] or params["trustee"]):
        raise AccessInfoError("%s choose mailboxes for check_mailboxes or trustee, and neither is on. Fix: set "
                              "check_mailboxes: true or give trustee, or drop them." % ", ".join(given))
    if params["trustee"]:
        check_address("trustee", params["trustee"])
    elif params["state_file"]:
        raise AccessInfoError("state_file holds a trustee's verified FullAccess grants. Fix: give trustee, or drop "
                              "state_file.")
    if [name for name in params["test_mailboxes"] if not name or not name.strip()]:
        raise AccessInfoError("test_mailboxes holds an empty entry. Fix: list UPNs or SMTP addresses.")
    for name in ("report_limit", "state_max_age"):
        if params[name] < 0:
            raise AccessInfoError("%s must be 0 or more" % name)
    if params["graph_url"] is not None and not params["graph_access_token"]:
        raise AccessInfoError("graph_url is used only with graph_access_token. Fix: give graph_access_token, or drop "
                              "graph_url.")
    graph_url = graph_endpoint(params["cloud"], params["graph_url"]) if params["graph_access_token"] else None
    return app_ids, graph_url


def summary(verdicts):
    """One line: each path's status, app by app."""
    parts = []
    for name, paths in verdicts.items():
        if isinstance(paths, dict):
            parts.append("app %s: %s" % (name, ", ".join("%s %s" % item for item in sorted(paths.items()))))
        else:
            parts.append("%s: %s" % (name, paths))
    return "; ".join(parts)


class AccessInfoRun:
    """One read of the tenant (and optionally Graph); ``result`` grows as parts are read."""

    def __init__(self, module, app_ids, graph_url):
        self.module = module
        self.params = module.params
        self.app_ids = app_ids
        self.graph_url = graph_url
        self.graph = None
        self.result = {"changed": False}

    def run(self):
        """Read every part; returns the result."""
        params, limit = self.params, self.params["report_limit"]
        client = self.module.connect(pool_size=params["max_concurrency"])
        trustee = resolve_trustee(client, params["trustee"]) if params["trustee"] else None
        mailboxes = None
        if params["check_mailboxes"] or trustee is not None:
            mailboxes, scope = select_mailboxes(client, params)
        policy = read_ews_policy(client)
        self.result["ews_policy"] = policy
        if params["check_mailboxes"]:
            blocked, failed = find_blocked(client, params, mailboxes)
            addresses = sorted((mailbox.address for mailbox in blocked), key=str.lower)
            shown, truncated = limited(addresses, limit)
            self.result["mailboxes"] = {"selected": scope.listed - scope.excluded, "ews_disabled_count": len(addresses),
                                        "ews_disabled": shown, "truncated": truncated, "failed": failed}
        listing = RbacListing(client)
        if self.graph_url:
            self.graph = GraphReader(client.session, self.graph_url, params["graph_access_token"], verify=client.verify,
                                     timeout=client.timeout)
        on = today()
        apps = {}
        for app_id in self.app_ids:
            apps[app_id] = self.app_report(client, policy, listing, app_id, on)
        self.result["apps"] = apps
        self.result["verdicts"] = {app_id: {path: verdict["status"] for path, verdict in app["verdicts"].items()}
                                   for app_id, app in apps.items()}
        if trustee is not None:
            verified = None
            if params["state_file"]:
                verified = VerifiedGrants(params["state_file"], client.tenant_id, trustee.upn, params["state_max_age"] * 3600)
            # The trustee's own mailbox is left out, as o365_mailbox_fullaccess leaves it out.
            own = [mailbox for mailbox in mailboxes if not (trustee.guid and mailbox.identity == trustee.guid)]
            fullaccess = fullaccess_counts(client, trustee, own, verified, params["max_concurrency"], limit)
            fullaccess["verdict"] = fullaccess_verdict(fullaccess, on)
            self.result["fullaccess"] = fullaccess
            self.result["verdicts"]["fullaccess"] = fullaccess["verdict"]["status"]
        self.result["msg"] = summary(self.result["verdicts"])
        self.result["requests"] = self.requests()
        return self.result

    def app_report(self, client, policy, listing, app_id, on):
        """Everything about one app, and its verdicts."""
        rbac = listing.for_app(app_id)
        pointer = rbac.pop("_pointer", None)
        tested = [name.strip() for name in self.params["test_mailboxes"]]
        app = {"ews": ews_for_app(policy, app_id), "service_principal": rbac["service_principal"],
               "assignments": rbac["assignments"],
               "authorization_tests": authorization_tests_for(client, pointer, tested) if pointer is not None else [],
               "tested_mailboxes": tested if pointer is not None else []}
        if self.graph is not None:
            entra = dict({"read": True}, **self.graph.permissions(app_id))
            flag_moot(entra, app["assignments"])
        else:
            entra = {"read": False, "service_principal_id": None, "permissions": []}
        app["entra"] = entra
        app["verdicts"] = app_verdicts(app, self.result.get("mailboxes"), on)
        del app["tested_mailboxes"]  # only the verdict needs it
        return app

    def requests(self):
        """Exchange's request counts plus the Graph calls."""
        counts = self.module.requests_made()
        counts["graph_requests"] = self.graph.requests if self.graph is not None else 0
        return counts

    def partial(self):
        """What was read before a failure."""
        result = dict(self.result)
        result["requests"] = self.requests()
        return result


def run_module():
    """Parse options, check them, read, report."""
    module = ExoModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("mailboxes", "filter"), ("mailboxes", "recipient_type_details")],
        role_hint=READ_ROLES,
    )
    if module.params["query"]:
        module.require_library("jmespath", JMESPATH_IMPORT_ERROR, "query")
    app_ids, graph_url = module.run_guarded(lambda: check_params(module.params))
    run = AccessInfoRun(module, app_ids, graph_url)
    result = module.run_guarded(run.run, partial_result=run.partial)
    failed = (result.get("mailboxes") or {}).get("failed") or (result.get("fullaccess") or {}).get("failed")
    if failed:
        result["msg"] = "%d mailboxes could not be read, first: %s: %s; %s" % (
            len(failed), failed[0]["mailbox"], failed[0]["reason"], result["msg"])
        module.fail_json(**result)
    module.exit_json(**result)


def main():
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
