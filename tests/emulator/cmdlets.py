"""The cmdlets behind InvokeCommand: parameter binding, Get-Mailbox, Get-Recipient,
Get/Add/Remove-MailboxPermission, and the Exchange error shapes."""
from __future__ import annotations

import json
from urllib.parse import quote

from .jsontext import RawArray
from .opath import FilterError, compile_filter
from .records import select as select_properties
from .tenant import ALL_RTDS, MAX_ACES, ORG_DC, SECURITY_PRINCIPALS, Ace

DC_NAME = "AMSPR01A005DC01.EURPR01A005.prod.outlook.com"
RIGHTS = ("ChangeOwner", "ChangePermission", "DeleteItem", "ExternalAccount", "FullAccess", "ReadPermission")
INHERITANCE = ("All", "None", "Children", "Descendents", "SelfAndChildren")
DEFAULT_RESULT_SIZE = 1000
RESULT_SIZE_WARNING = ("By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the "
                       "number of items returned. To return all items, specify \"-ResultSize unlimited\".")
RESULT_SIZE_WARNING_SET = ("There are more results available than are currently displayed. To view them, increase the "
                           "value for the ResultSize parameter.")
COMMON = {"erroraction": ("ErrorAction", "str"), "warningaction": ("WarningAction", "str"), "verbose": ("Verbose", "bool")}
LISTING = {"identity": ("Identity", "str"), "resultsize": ("ResultSize", "resultsize"), "filter": ("Filter", "str"),
           "recipienttypedetails": ("RecipientTypeDetails", "rtds"), "anr": ("Anr", "str")}
SPECS = {
    "Get-Mailbox": dict(LISTING, includeinactivemailbox=("IncludeInactiveMailbox", "bool"),
                        softdeletedmailbox=("SoftDeletedMailbox", "bool")),
    "Get-Recipient": dict(LISTING, recipienttype=("RecipientType", "rtds"),
                          recipientpreviewfilter=("RecipientPreviewFilter", "str")),
    "Get-MailboxPermission": {"identity": ("Identity", "str"), "user": ("User", "str"), "owner": ("Owner", "bool"),
                              "resultsize": ("ResultSize", "resultsize")},
    "Add-MailboxPermission": {"identity": ("Identity", "str"), "user": ("User", "str"),
                              "accessrights": ("AccessRights", "rights"), "inheritancetype": ("InheritanceType", "inherit"),
                              "automapping": ("AutoMapping", "bool"), "deny": ("Deny", "bool"), "confirm": ("Confirm", "bool")},
    "Remove-MailboxPermission": {"identity": ("Identity", "str"), "user": ("User", "str"),
                                 "accessrights": ("AccessRights", "rights"),
                                 "inheritancetype": ("InheritanceType", "inherit"), "deny": ("Deny", "bool"),
                                 "confirm": ("Confirm", "bool"), "bypassmasteraccountsid": ("BypassMasterAccountSid", "bool")},
}
MANDATORY = {"Get-MailboxPermission": ("Identity",), "Add-MailboxPermission": ("Identity", "User", "AccessRights"),
             "Remove-MailboxPermission": ("Identity", "User", "AccessRights")}
CMDLETS = {name.lower(): name for name in SPECS}
PAGED = ["Get-Mailbox", "Get-Recipient"]  # cmdlets whose listings follow @odata.nextLink
# The live answer's context names a generic hash table, whatever the cmdlet (public capture, see README).
CONTEXT = "$metadata#Collection(Exchange.GenericHashTable)"
# "Already present" / "doesn't exist" warnings: English for en-* Accept-Language, German otherwise
# (assumption: the service localises them; clients must not depend on one text).
ALREADY_PRESENT = {
    "en": "WARNING: An existing permission entry was found for user: %s. The appropriate access control entry is already "
          "present on object \"%s\" for account \"%s\".",
    "de": "WARNUNG: Für den Benutzer %s wurde ein vorhandener Berechtigungseintrag gefunden. Der entsprechende "
          "Zugriffssteuerungseintrag ist für das Objekt \"%s\" für das Konto \"%s\" bereits vorhanden.",
}
NOT_PRESENT = {
    "en": "WARNING: Can't remove the access control entry on the object \"%s\" for account \"%s\" because the ACE "
          "doesn't exist on the object.",
    "de": "WARNUNG: Der Zugriffssteuerungseintrag für das Objekt \"%s\" und das Konto \"%s\" kann nicht entfernt "
          "werden, weil er für das Objekt nicht vorhanden ist.",
}


class CmdletError(Exception):
    """An error answer of InvokeCommand."""

    def __init__(self, status, code, detail_code, exception_class, text, headers=None):
        super().__init__(text)
        self.status = status
        self.code = code
        self.detail_code = detail_code
        self.exception_class = exception_class
        self.text = text
        self.headers = headers or {}

    def body(self):
        """The JSON error body (None for an empty body)."""
        if self.exception_class is None:
            return None
        message = "%s|%s|%s" % (self.detail_code, self.exception_class, self.text)
        return {"error": {"code": self.code, "message": "Error executing cmdlet",
                          "details": [{"code": self.detail_code, "target": "", "message": message}],
                          "innererror": {"message": message, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                                         "stacktrace": "", "internalexception": {"message": self.text,
                                                                                 "type": self.exception_class,
                                                                                 "stacktrace": ""}}}}


def not_found(identity, status=400):
    """ManagementObjectNotFoundException on 400 or 404."""
    return CmdletError(status, "NotFound" if status == 404 else "BadRequest", "Ex6F9304",
                       "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                       "The operation couldn't be performed because object '%s' couldn't be found on '%s'."
                       % (identity, DC_NAME))


def binding(text):
    """ParameterBindingException (bad parameter name or value)."""
    return CmdletError(400, "BadRequest", "Ex1B7DB9", "System.Management.Automation.ParameterBindingException", text)


def language(accept_language):
    """"en" when the caller's first preference is English, else "de"."""
    ranked = []
    for position, part in enumerate(str(accept_language or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            ranked.append((-quality, position, tag.lower()))
    if ranked and min(ranked)[2].split("-")[0] == "en":
        return "en"
    return "de"


def canonical_name(cmdlet):
    """The cmdlet's canonical name, or None when the emulator does not know it."""
    return CMDLETS.get(str(cmdlet).lower())


def _enum(parameter, type_name, value, names):
    wanted = str(value).strip().lower()
    for name in names:
        if name.lower() == wanted:
            return name
    raise binding("Cannot bind parameter '%s' to the target. Exception setting \"%s\": \"Cannot convert value \"%s\" to type "
                  "\"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the "
                  "following enumerator names and try again: %s\"\"" % (
                      parameter, parameter, value, type_name, value, ", ".join(names)))


def _as_list(value):
    if isinstance(value, list):
        items = value
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.extend(part for part in item.split(",") if part.strip())
        else:
            out.append(item)
    return out


def _convert(name, kind, value):
    if kind == "raw":  # the handler converts (nullable values of org.py)
        return value
    if kind == "str":
        if isinstance(value, (list, dict)) or value is None:
            raise binding("Cannot convert '%s' to the type 'System.String' required by parameter '%s'. Specified method is "
                          "not supported." % ("System.Object[]" if isinstance(value, list) else value, name))
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "$true", "1"):
            return True
        if str(value).strip().lower() in ("false", "$false", "0"):
            return False
        raise binding("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type "
                      "\"System.Management.Automation.SwitchParameter\"." % (name, value))
    if kind == "resultsize":
        if str(value).strip().lower() == "unlimited":
            return None
        if not isinstance(value, bool) and str(value).strip().isdigit() and int(str(value).strip()) > 0:
            return int(str(value).strip())
        raise binding("Cannot process argument transformation on parameter 'ResultSize'. Cannot convert value \"%s\" to type "
                      "\"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\". Error: \"Invalid cast from 'System.String' "
                      "to 'System.UInt32'.\"" % value)
    if kind == "rtds":
        return [_enum(name, "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails", item, ALL_RTDS)
                for item in _as_list(value)]
    if kind == "rights":
        return [_enum(name, "Microsoft.Exchange.Management.RecipientTasks.MailboxRights", item, RIGHTS)
                for item in _as_list(value)]
    if kind == "inherit":
        return _enum(name, "System.DirectoryServices.ActiveDirectorySecurityInheritance", value, INHERITANCE)
    raise ValueError(kind)


def bind(cmdlet, parameters):
    """(canonical cmdlet name, bound parameters); the cmdlet must be known (see canonical_name)."""
    canonical = CMDLETS[str(cmdlet).lower()]
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise binding("Parameters must be a JSON object.")
    spec = SPECS[canonical]
    bound = {}
    for key, value in parameters.items():
        entry = spec.get(key.lower()) or COMMON.get(key.lower())
        if entry is None:
            raise binding("A parameter cannot be found that matches parameter name '%s'." % key)
        bound[entry[0]] = _convert(entry[0], entry[1], value)
    missing = [name for name in MANDATORY.get(canonical, ()) if name not in bound]
    if missing:
        raise binding("Cannot process command because of one or more missing mandatory parameters: %s." % " ".join(missing))
    return canonical, bound


class Call:
    """One cmdlet invocation with everything it needs from the request."""

    def __init__(self, engine, cmdlet, params, page_size, skiptoken, link_base, input_key, options=None):
        options = options or {}
        self.engine = engine
        self.tenant = engine.tenant
        self.cmdlet = cmdlet
        self.params = params
        self.page_size = page_size
        self.skiptoken = skiptoken
        self.link_base = link_base
        self.input_key = input_key
        self.select = options.get("select")  # list of property names, or None
        self.lang = options.get("lang", "en")
        self.loop_next = options.get("loop_next", False)

    def answer(self, value, warnings=(), next_link=None):
        """The 200 body (warnings are always there, maybe empty, as in the live answer)."""
        if self.select is not None and not isinstance(value, RawArray):
            value = [select_properties(row, self.select) for row in value]
        body = {"@odata.context": "%s/%s" % (self.link_base.rsplit("/", 1)[0], CONTEXT),
                "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": list(warnings),
                "value": value}
        if next_link:
            body["@odata.nextLink"] = next_link
        return body

    def next_link(self, token):
        """A next link for a $skiptoken; it keeps the $select of the request."""
        query = "%%24skiptoken=%s" % token
        if self.select is not None:
            query = "%%24select=%s&%s" % (quote(",".join(self.select), safe=","), query)
        return "%s?%s" % (self.link_base, query)

    def records(self, items, mailboxes_only):
        """The page's objects: full Get-Mailbox objects as pre-encoded JSON unless $select asks for less."""
        tenant = self.tenant
        if not mailboxes_only:
            return [item.record(tenant.domain) for item in items]
        builder = self.engine.records
        if self.select is None:
            return RawArray(builder.json(item) for item in items)
        return RawArray(json.dumps(builder.selected(item, self.select), separators=(",", ":")) for item in items)


def run(call):
    """Run a bound call; returns the 200 body or raises CmdletError. Afterwards (answered, error or not) org.py
    counts the call for its concurrent_writes rules, so their effect is visible from the next call on."""
    try:
        return HANDLERS[call.cmdlet](call)
    finally:
        org.after_call(call)


def _filter_error(text, exc, parameter="Filter"):
    if str(exc).startswith("property:"):
        reason = ("'%s' is not a recognized filterable property. For a description of the filterable properties see the "
                  "command help." % str(exc).split(":", 1)[1])
    else:
        reason = "Invalid filter syntax. For a description of the filter parameter syntax see the command help."
    return CmdletError(400, "BadRequest", "Ex4B1F4A", "Microsoft.Exchange.Management.Tasks.ParserException",
                       "Cannot bind parameter '%s' to the target. Exception setting \"%s\": \"%s\n\"%s\" at "
                       "position %d.\"" % (parameter, parameter, reason, text, exc.position))


def _listing(call, mailboxes_only):
    tenant, params = call.tenant, call.params
    types = set(params.get("RecipientTypeDetails") or ()) | set(params.get("RecipientType") or ())
    if "RecipientPreviewFilter" in params and ("Identity" in params or "Anr" in params):
        raise binding("Parameter set cannot be resolved using the specified named parameters.")
    if "Identity" in params:
        if "Filter" in params or "Anr" in params:
            raise binding("Parameter set cannot be resolved using the specified named parameters.")
        found = tenant.find_mailbox(params["Identity"]) if mailboxes_only else tenant.resolve(params["Identity"])
        if found is None or (types and found.rtd not in types and found.recipient_type not in types):
            raise not_found(params["Identity"], status=404)
        return call.answer(call.records([found], mailboxes_only))
    snapshots = call.engine.snapshots
    if call.skiptoken:
        items, offset, truncated, snapshot_id = snapshots.resume(call.skiptoken, call.input_key)
    else:
        predicates = []
        for parameter in ("Filter", "RecipientPreviewFilter"):  # both must match when both are given
            if parameter in params:
                try:
                    predicates.append(compile_filter(params[parameter]))
                except FilterError as exc:
                    raise _filter_error(params[parameter], exc, parameter) from exc
        with tenant.lock:
            source = list(tenant.mailboxes) if mailboxes_only else tenant.others + list(tenant.mailboxes)
        if types:
            source = [item for item in source if item.rtd in types or item.recipient_type in types]
        if "Anr" in params:
            anr = params["Anr"].lower()
            source = [item for item in source if any(str(value).lower().startswith(anr) for value in (
                item.display, item.alias, item.smtp, item.upn, item.name))]
        for predicate in predicates:
            source = [item for item in source if predicate(item)]
        limit = params.get("ResultSize", DEFAULT_RESULT_SIZE)
        truncated = limit is not None and len(source) > limit
        items = source[:limit] if truncated else source
        offset, snapshot_id = 0, None
    page = items[offset:offset + call.page_size]
    end = offset + len(page)
    warnings, next_link = [], None
    if call.loop_next:  # fault rule: the next link names this same page again
        if snapshot_id is None:
            snapshot_id = snapshots.store(items, truncated, call.input_key)
        next_link = call.next_link(snapshots.token(snapshot_id, offset))
    elif end < len(items):
        if snapshot_id is None:
            snapshot_id = snapshots.store(items, truncated, call.input_key)
        next_link = call.next_link(snapshots.token(snapshot_id, end))
    elif truncated:
        warnings.append(RESULT_SIZE_WARNING if "ResultSize" not in call.params else RESULT_SIZE_WARNING_SET)
    return call.answer(call.records(page, mailboxes_only), warnings, next_link)


def get_mailbox(call):
    """Get-Mailbox."""
    return _listing(call, True)


def get_recipient(call):
    """Get-Recipient."""
    return _listing(call, False)


def _target(call):
    mailbox = call.tenant.find_mailbox(call.params["Identity"])
    if mailbox is None or not call.tenant.replicated(mailbox):
        raise not_found(call.params["Identity"], status=400)
    return mailbox


def _trustee_name(call, user, acl=None):
    """The User column value a -User parameter selects; raises not-found."""
    recipient = call.tenant.resolve(user)
    if recipient is not None:
        return recipient.trustee_name, recipient
    wanted = str(user).strip().lower()
    for ace in acl or ():
        if ace.user.lower() == wanted:
            return ace.user, None
    raise not_found(user, status=400)


def get_mailbox_permission(call):
    """Get-MailboxPermission."""
    mailbox = _target(call)
    acl = call.tenant.acl(mailbox)
    with call.tenant.lock:
        aces = [ace.copy() for ace in acl]
    if "User" in call.params:
        name, _recipient = _trustee_name(call, call.params["User"], aces)
        aces = [ace for ace in aces if ace.user.lower() == name.lower()]
    if call.params.get("Owner"):
        return call.answer([{"Identity": mailbox.name, "Owner": ORG_DC + "\\" + mailbox.alias, "IsValid": True,
                             "ObjectState": "Unchanged"}])
    return call.answer([ace.row(mailbox.name) for ace in aces])


def _account(recipient, name):
    return "%s\\%s" % (ORG_DC, recipient.alias) if recipient is not None else name


def _already_present(call, recipient, mailbox, name):
    """What Add-MailboxPermission answers for a grant that exists (runtime key existing_grant_answer;
    the live answer is unknown, so the emulator can give each plausible one)."""
    text = ALREADY_PRESENT[call.lang] % (recipient.alias, mailbox.distinguished_name(call.tenant.domain),
                                         _account(recipient, name))
    style = call.engine.config["existing_grant_answer"]
    if style == "silent":
        return call.answer([])
    if style == "error":
        raise CmdletError(400, "BadRequest", "Ex5D1E02", "Microsoft.Exchange.Management.Tasks.ACEAlreadyExistsException",
                          text.split(": ", 1)[1])
    return call.answer([], [text])


def add_mailbox_permission(call):
    """Add-MailboxPermission."""
    tenant, params = call.tenant, call.params
    mailbox = _target(call)
    recipient = tenant.resolve(params["User"])
    if recipient is None:
        raise not_found(params["User"], status=400)
    if recipient.rtd not in SECURITY_PRINCIPALS:
        raise CmdletError(400, "BadRequest", "Ex3F8A21", "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException",
                          "The user \"%s\" isn't a security principal. Only mailboxes, mail users and mail-enabled "
                          "security groups can be granted mailbox permissions." % params["User"])
    rights = list(dict.fromkeys(params["AccessRights"]))
    deny = params.get("Deny", False)
    name = recipient.trustee_name
    with tenant.lock:
        acl = tenant.editable_acl(mailbox)
        tenant.touch(mailbox)  # assumption: a permission write moves WhenChanged (README)
        same = [ace for ace in acl if not ace.inherited and ace.deny == deny and ace.user.lower() == name.lower()]
        if any(all(right in ace.rights for right in rights) for ace in same):
            return _already_present(call, recipient, mailbox, name)
        if same:
            ace = same[0]
            ace.rights.extend(right for right in rights if right not in ace.rights)
            return call.answer([ace.row(mailbox.name)])
        if len(acl) >= MAX_ACES:
            raise CmdletError(400, "BadRequest", "Ex0A9C4E", "Microsoft.Exchange.Data.Directory.ADConstraintViolationException",
                              "The access control list of object '%s' already holds the maximum of %d entries; remove "
                              "entries before adding new ones." % (mailbox.name, MAX_ACES))
        ace = Ace(name, rights, deny=deny, inheritance=params.get("InheritanceType", "All"),
                  auto_mapping=None if deny else params.get("AutoMapping", True), sid=tenant.trustee_sid(recipient))
        acl.append(ace)
        return call.answer([ace.row(mailbox.name)])


def remove_mailbox_permission(call):
    """Remove-MailboxPermission."""
    tenant, params = call.tenant, call.params
    mailbox = _target(call)
    deny = params.get("Deny", False)
    rights = set(params["AccessRights"])
    with tenant.lock:
        name, recipient = _trustee_name(call, params["User"], tenant.acl(mailbox))
        matching = [ace for ace in tenant.acl(mailbox) if not ace.inherited and ace.deny == deny
                    and ace.user.lower() == name.lower() and rights.intersection(ace.rights)]
        if not matching:
            text = NOT_PRESENT[call.lang] % (mailbox.distinguished_name(tenant.domain), _account(recipient, name))
            return call.answer([], [text])
        acl = tenant.editable_acl(mailbox)
        tenant.touch(mailbox)
        for ace in [ace for ace in acl if not ace.inherited and ace.deny == deny and ace.user.lower() == name.lower()]:
            ace.rights = [right for right in ace.rights if right not in rights]
            if not ace.rights:
                acl.remove(ace)
    return call.answer([])


HANDLERS = {"Get-Mailbox": get_mailbox, "Get-Recipient": get_recipient, "Get-MailboxPermission": get_mailbox_permission,
            "Add-MailboxPermission": add_mailbox_permission, "Remove-MailboxPermission": remove_mailbox_permission}


# org.py adds its cmdlets to the tables above; it imports the helpers of this module, so it comes last.
from . import org  # noqa: E402  pylint: disable=wrong-import-position

org.register(SPECS, MANDATORY, HANDLERS, CMDLETS)
PAGED.extend(org.PAGED)
