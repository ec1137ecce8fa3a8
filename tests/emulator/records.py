"""Full Get-Mailbox objects: about 250 properties, built when a page is serialised.

The property names, their order, the value formats and the OData type annotations
(``Prop@odata.type``, ``Prop@data.type``) follow a public capture of a live
``InvokeCommand`` answer to ``Get-Mailbox`` with ``X-ResponseFormat: json`` (see README,
"Sources"). Values are synthetic. Nothing here is stored per mailbox: a record is a copy of
one shared template plus the ~45 properties that differ between mailboxes, so 100,000
mailboxes cost nothing until a page of them is answered.
"""
from __future__ import annotations

import functools
import hashlib
import json
import uuid
from json.encoder import encode_basestring_ascii  # pylint: disable=no-name-in-module

from .tenant import ORG_DC

LIST_TYPE = "#Collection(String)"
NULL_GUID = "00000000-0000-0000-0000-000000000000"
VARIES = object()  # placeholder: filled per mailbox
AUDIT_ADMIN = ["Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create",
               "UpdateFolderPermissions", "UpdateInboxRules", "UpdateCalendarDelegation", "ApplyRecord",
               "MailItemsAccessed", "Send"]
AUDIT_DELEGATE = ["Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create",
                  "UpdateFolderPermissions", "UpdateInboxRules", "ApplyRecord", "MailItemsAccessed"]
AUDIT_OWNER = ["Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "UpdateFolderPermissions", "UpdateInboxRules",
               "UpdateCalendarDelegation", "ApplyRecord", "MailItemsAccessed", "Send"]
CAPABILITIES = ["M365AuditPlatform", "InformationGovernance", "RecordsManagement", "BPOS_S_O365PAM",
                "BPOS_S_CustomerLockbox", "M365Auditing", "BPOS_S_Enterprise"]
PROTOCOLS = ["MAPI\u00a71\u00a70\u00a7\u00a7\u00a70\u00a7\u00a7\u00a7\u00a7\u00a70", "PublicFolderClientAccess\u00a70",
             "IMAP4\u00a71\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7",
             "POP3\u00a71\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7\u00a71", "ECP\u00a71",
             "HTTP\u00a71\u00a71\u00a7\u00a7\u00a7\u00a7\u00a7\u00a7", "OWA\u00a71"]
ADDRESS_LISTS = ["\\All Users", "\\Offline Global Address List", "\\Mailboxes(VLV)", "\\All Mailboxes(VLV)",
                 "\\All Recipients(VLV)", "\\Default Global Address List"]

# (name, default) in the order of the live answer. Lists get a "#Collection(String)" annotation,
# GUID and DateTime values their type annotations (see _annotations).
PROPERTIES = (
    ("AcceptMessagesOnlyFromWithDisplayNames", []), ("AcceptMessagesOnlyFromSendersOrMembersWithDisplayNames", []),
    ("AcceptMessagesOnlyFromDLMembersWithDisplayNames", []), ("Database", VARIES), ("DatabaseGuid", VARIES),
    ("MailboxProvisioningConstraint", None), ("IsMonitoringMailbox", False), ("MailboxRegion", None),
    ("MailboxRegionLastUpdateTime", None), ("MailboxRegionSuffix", "None"), ("MessageRecallProcessingEnabled", True),
    ("MessageCopyForSentAsEnabled", False), ("MessageCopyForSendOnBehalfEnabled", False),
    ("MailboxProvisioningPreferences", []), ("UseDatabaseRetentionDefaults", False), ("RetainDeletedItemsUntilBackup", False),
    ("DeliverToMailboxAndForward", False), ("IsExcludedFromServingHierarchy", False), ("IsHierarchyReady", True),
    ("IsHierarchySyncEnabled", True), ("IsPublicFolderSystemMailbox", False), ("HasSnackyAppData", False),
    ("LitigationHoldEnabled", False), ("SingleItemRecoveryEnabled", True), ("RetentionHoldEnabled", False),
    ("EndDateForRetentionHold", None), ("StartDateForRetentionHold", None), ("RetentionComment", ""), ("RetentionUrl", ""),
    ("LitigationHoldDate", None), ("LitigationHoldOwner", ""), ("ElcProcessingDisabled", False),
    ("ComplianceTagHoldApplied", False), ("WasInactiveMailbox", False), ("DelayHoldApplied", False),
    ("DelayReleaseHoldApplied", False), ("PitrEnabled", False), ("PitrCopyIntervalInSeconds", 0), ("PitrPaused", False),
    ("PitrPausedTimestamp", None), ("PitrOffboardedTimestamp", None), ("PitrState", "None"),
    ("InactiveMailboxRetireTime", None), ("OrphanSoftDeleteTrackingTime", None), ("LitigationHoldDuration", "Unlimited"),
    ("ManagedFolderMailboxPolicy", None), ("RetentionPolicy", "Default MRM Policy"), ("AddressBookPolicy", None),
    ("CalendarRepairDisabled", False), ("ExchangeGuid", VARIES), ("MailboxContainerGuid", None), ("UnifiedMailbox", None),
    ("MailboxLocations", VARIES), ("AggregatedMailboxGuids", []),
    ("ExchangeSecurityDescriptor", "System.Security.AccessControl.RawSecurityDescriptor"),
    ("ExchangeUserAccountControl", "None"), ("AdminDisplayVersion", "Version 15.20 (Build 7587.36)"),
    ("MessageTrackingReadStatusEnabled", True), ("ExternalOofOptions", "External"), ("ForwardingAddress", None),
    ("ForwardingSmtpAddress", None), ("RetainDeletedItemsFor", "14.00:00:00"), ("IsMailboxEnabled", True),
    ("Languages", ["en-US"]), ("OfflineAddressBook", None), ("ProhibitSendQuota", "99 GB (106,300,440,576 bytes)"),
    ("ProhibitSendReceiveQuota", "100 GB (107,374,182,400 bytes)"),
    ("RecoverableItemsQuota", "30 GB (32,212,254,720 bytes)"),
    ("RecoverableItemsWarningQuota", "20 GB (21,474,836,480 bytes)"),
    ("CalendarLoggingQuota", "6 GB (6,442,450,944 bytes)"), ("DowngradeHighPriorityMessagesEnabled", False),
    ("ProtocolSettings", PROTOCOLS), ("RecipientLimits", "500"), ("ImListMigrationCompleted", False), ("SiloName", None),
    ("IsResource", VARIES), ("IsLinked", False), ("IsShared", VARIES), ("IsRootPublicFolderMailbox", False),
    ("LinkedMasterAccount", ""), ("ResetPasswordOnNextLogon", False), ("ResourceCapacity", None), ("ResourceCustom", []),
    ("ResourceType", VARIES), ("RoomMailboxAccountEnabled", VARIES), ("SamAccountName", VARIES),
    ("SCLDeleteThreshold", None), ("SCLDeleteEnabled", None), ("SCLRejectThreshold", None), ("SCLRejectEnabled", None),
    ("SCLQuarantineThreshold", None), ("SCLQuarantineEnabled", None), ("SCLJunkThreshold", None), ("SCLJunkEnabled", None),
    ("AntispamBypassEnabled", False), ("ServerLegacyDN", VARIES), ("ServerName", VARIES),
    ("UseDatabaseQuotaDefaults", False), ("IssueWarningQuota", "98 GB (105,226,698,752 bytes)"),
    ("RulesQuota", "256 KB (262,144 bytes)"), ("Office", ""), ("UserPrincipalName", VARIES), ("UMEnabled", False),
    ("MaxSafeSenders", None), ("MaxBlockedSenders", None), ("NetID", VARIES), ("ReconciliationId", None),
    ("WindowsLiveID", VARIES), ("MicrosoftOnlineServicesID", VARIES), ("ThrottlingPolicy", None),
    ("RoleAssignmentPolicy", "Default Role Assignment Policy"), ("DefaultPublicFolderMailbox", None),
    ("EffectivePublicFolderMailbox", "Public"), ("SharingPolicy", "Default Sharing Policy"), ("RemoteAccountPolicy", None),
    ("MailboxPlan", VARIES), ("ArchiveDatabase", None), ("ArchiveDatabaseGuid", NULL_GUID), ("ArchiveGuid", NULL_GUID),
    ("ArchiveName", []), ("JournalArchiveAddress", ""), ("ArchiveQuota", "100 GB (107,374,182,400 bytes)"),
    ("ArchiveWarningQuota", "90 GB (96,636,764,160 bytes)"), ("ArchiveDomain", None), ("ArchiveStatus", "None"),
    ("ArchiveState", "None"), ("AutoExpandingArchiveEnabled", False), ("DisabledMailboxLocations", False),
    ("RemoteRecipientType", "None"), ("DisabledArchiveDatabase", None), ("DisabledArchiveGuid", NULL_GUID),
    ("QueryBaseDN", None), ("QueryBaseDNRestrictionEnabled", False), ("MailboxMoveTargetMDB", None),
    ("MailboxMoveSourceMDB", None), ("MailboxMoveFlags", "None"), ("MailboxMoveRemoteHostName", ""),
    ("MailboxMoveBatchName", ""), ("MailboxMoveStatus", "None"), ("MailboxRelease", "E15"), ("ArchiveRelease", ""),
    ("IsPersonToPersonTextMessagingEnabled", False), ("IsMachineToPersonTextMessagingEnabled", False),
    ("UserSMimeCertificate", []), ("UserCertificate", []), ("CalendarVersionStoreDisabled", False), ("ImmutableId", ""),
    ("PersistedCapabilities", CAPABILITIES), ("SKUAssigned", VARIES), ("AuditEnabled", True),
    ("AuditLogAgeLimit", "90.00:00:00"), ("AuditAdmin", AUDIT_ADMIN), ("AuditDelegate", AUDIT_DELEGATE),
    ("AuditOwner", AUDIT_OWNER), ("DefaultAuditSet", ["Admin", "Delegate", "Owner"]), ("WhenMailboxCreated", VARIES),
    ("SourceAnchor", ""), ("UsageLocation", "United States"), ("IsSoftDeletedByRemove", False),
    ("IsSoftDeletedByDisable", False), ("IsInactiveMailbox", False), ("IncludeInGarbageCollection", False),
    ("WhenSoftDeleted", None), ("RecipientSoftDeletedStatus", 0), ("InPlaceHolds", []), ("GeneratedOfflineAddressBooks", []),
    ("AccountDisabled", VARIES), ("StsRefreshTokensValidFrom", VARIES), ("NonCompliantDevices", []),
    ("EnforcedTimestamps", "[]"), ("DataEncryptionPolicy", None), ("MessageCopyForSMTPClientSubmissionEnabled", True),
    ("RecipientThrottlingThreshold", "Standard"), ("SharedEmailDomainTenant", ""), ("SharedEmailDomainState", "None"),
    ("SharedWithTargetSmtpAddress", ""), ("SharedEmailDomainStateLastModified", None), ("EmailAddressDisplayNames", []),
    ("ResourceProvisioningOptions", []), ("Extensions", []), ("HasPicture", False), ("HasSpokenName", False),
    ("IsDirSynced", False), ("AcceptMessagesOnlyFrom", []), ("AcceptMessagesOnlyFromDLMembers", []),
    ("AcceptMessagesOnlyFromSendersOrMembers", []), ("AddressListMembership", ADDRESS_LISTS), ("AdministrativeUnits", []),
    ("Alias", VARIES), ("ArbitrationMailbox", None), ("BypassModerationFromSendersOrMembers", []),
    ("OrganizationalUnit", VARIES), ("CustomAttribute1", VARIES),
    *(("CustomAttribute%d" % number, "") for number in (10, 11, 12, 13, 14, 15, 2, 3, 4, 5, 6, 7, 8, 9)),
    *(("ExtensionCustomAttribute%d" % number, []) for number in range(1, 6)),
    ("DisplayName", VARIES), ("EmailAddresses", VARIES), ("GrantSendOnBehalfTo", []),
    ("ExternalDirectoryObjectId", VARIES), ("HiddenFromAddressListsEnabled", VARIES), ("LastExchangeChangedTime", None),
    ("LegacyExchangeDN", VARIES), ("MaxSendSize", "35 MB (36,700,160 bytes)"),
    ("MaxReceiveSize", "36 MB (37,748,736 bytes)"), ("ModeratedBy", []), ("ModerationEnabled", False),
    ("PoliciesIncluded", []), ("PoliciesExcluded", ["{26491cfc-9e50-4857-861b-0cb8df22b5d7}"]),
    ("EmailAddressPolicyEnabled", True), ("PrimarySmtpAddress", VARIES), ("RecipientType", "UserMailbox"),
    ("RecipientTypeDetails", VARIES), ("RejectMessagesFrom", []), ("RejectMessagesFromDLMembers", []),
    ("RejectMessagesFromSendersOrMembers", []), ("RequireSenderAuthenticationEnabled", False), ("SimpleDisplayName", ""),
    ("SendModerationNotifications", "Always"), ("UMDtmfMap", VARIES), ("WindowsEmailAddress", VARIES), ("MailTip", None),
    ("MailTipTranslations", []), ("Identity", VARIES), ("Id", VARIES), ("IsValid", True),
    ("ExchangeVersion", "0.20 (15.0.0.0)"), ("Name", VARIES), ("DistinguishedName", VARIES),
    ("ObjectCategory", ORG_DC + ".PROD.OUTLOOK.COM/Configuration/Schema/Person"),
    ("ObjectClass", ["top", "person", "organizationalPerson", "user"]), ("WhenChanged", VARIES), ("WhenCreated", VARIES),
    ("WhenChangedUTC", VARIES), ("WhenCreatedUTC", VARIES), ("ExchangeObjectId", VARIES),
    ("OrganizationalUnitRoot", VARIES), ("OrganizationId", VARIES), ("Guid", VARIES),
    ("OriginatingServer", ORG_DC + "DC001." + ORG_DC + ".PROD.OUTLOOK.COM"),
)
NAMES = tuple(name for name, _default in PROPERTIES)
GUID_PROPERTIES = frozenset(("DatabaseGuid", "ExchangeGuid", "ArchiveDatabaseGuid", "ArchiveGuid", "DisabledArchiveGuid",
                             "ExchangeObjectId", "Guid"))
DATE_PROPERTIES = frozenset(("WhenMailboxCreated", "StsRefreshTokensValidFrom", "WhenChanged", "WhenCreated",
                             "WhenChangedUTC", "WhenCreatedUTC"))
LIST_PROPERTIES = frozenset(name for name, default in PROPERTIES if isinstance(default, list)) | {
    "MailboxLocations", "EmailAddresses", "UMDtmfMap"}


def _annotations(name):
    """The annotation keys the live answer puts before a property."""
    if name in LIST_PROPERTIES:
        return ((name + "@odata.type", LIST_TYPE),)
    if name in GUID_PROPERTIES:
        return ((name + "@data.type", "System.Guid"), (name + "@odata.type", "#Guid"))
    if name in DATE_PROPERTIES:
        return ((name + "@data.type", "System.DateTime"),)
    if name == "PitrCopyIntervalInSeconds":
        return ((name + "@data.type", "System.Int16"), (name + "@odata.type", "#Int16"))
    if name == "RecipientSoftDeletedStatus":
        return ((name + "@data.type", "System.Int32"),)
    return ()


@functools.lru_cache(maxsize=65536)
def _derived_guid(text, label):
    return str(uuid.UUID(bytes=hashlib.blake2b((text + label).encode(), digest_size=16).digest(), version=4))


def _stamp(when, utc=False):
    text = when.strftime("%Y-%m-%dT%H:%M:%S.0000000")
    return text + ("Z" if utc else "+00:00")


DTMF = str.maketrans({**dict.fromkeys("abc", "2"), **dict.fromkeys("def", "3"), **dict.fromkeys("ghi", "4"),
                      **dict.fromkeys("jkl", "5"), **dict.fromkeys("mno", "6"), **dict.fromkeys("pqrs", "7"),
                      **dict.fromkeys("tuv", "8"), **dict.fromkeys("wxyz", "9")})


def _dtmf(text):
    return "".join(char for char in text.lower().translate(DTMF) if char.isdigit())


def encode_value(value):
    """JSON text of a str, bool, None, int or list of those (the value types of a record)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(encode_value(item) for item in value) + "]"
    return json.dumps(value)


class MailboxRecords:
    """Builds Get-Mailbox objects for one tenant, as dicts or (for whole pages) as JSON text."""

    def __init__(self, initial_domain):
        self.domain = initial_domain
        self.plan = "ExchangeOnlineEnterprise-" + _derived_guid(initial_domain, "plan")
        self._selections = {}
        self.template = {}
        varying = set()
        for name, default in PROPERTIES:
            for key, value in _annotations(name):
                self.template[key] = value
            self.template[name] = None if default is VARIES else default
            if default is VARIES:
                varying.add(name)
        self.template["OrganizationalUnitRoot"] = initial_domain
        self.template["OrganizationId"] = "%s.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/%s - %s.PROD.OUTLOOK.COM/" \
                                          "ConfigurationUnits/%s/Configuration" % (ORG_DC, initial_domain, ORG_DC, initial_domain)
        self.template["OrganizationalUnit"] = "%s.prod.outlook.com/Microsoft Exchange Hosted Organizations/%s" % (
            ORG_DC.lower(), initial_domain)
        varying -= {"OrganizationalUnitRoot", "OrganizationId", "OrganizationalUnit"}
        self.varying = frozenset(varying)
        self.segments = self._segments(varying)

    def _segments(self, varying):
        """The record as JSON text: constant runs pre-encoded, varying property names in between."""
        segments, text = [], "{"
        for key, value in self.template.items():
            text += ("" if text == "{" else ",") + encode_basestring_ascii(key) + ":"
            if key in varying:
                segments.append(text)
                segments.append(_Slot(key))
                text = ""
            else:
                text += encode_value(value)
        segments.append(text + "}")
        # the first segment after a slot starts with "," (see the loop): that is what the JSON needs
        return segments

    def record(self, mailbox):
        """The Get-Mailbox object of one mailbox (a new dict the caller may change)."""
        record = dict(self.template)
        record.update(self._varying(mailbox))
        return record

    def selected_keys(self, names):
        """The record keys (annotations included, record order) a $select of names (a tuple) asks for."""
        keys = self._selections.get(names)
        if keys is None:
            wanted = {name.lower() for name in names}
            keys = tuple(key for key in self.template if key.split("@", 1)[0].lower() in wanted)
            if len(self._selections) < 256:
                self._selections[names] = keys
        return keys

    def selected(self, mailbox, names):
        """Only the $select properties of a mailbox's object (case-insensitive; unknown names are ignored)."""
        keys = self.selected_keys(tuple(names))
        values = {key: getter(mailbox) for key, getter in PLAIN.items()}
        if not PLAIN.keys() >= set(keys) & self.varying:
            values = self._varying(mailbox)
        template = self.template
        return {key: values[key] if key in values else template[key] for key in keys}

    def json(self, mailbox):
        """The same object as compact JSON text (what a page without $select is built from)."""
        values = self._varying(mailbox)
        return "".join(segment if segment.__class__ is str else encode_value(values[segment.key])
                       for segment in self.segments)

    def _varying(self, mailbox):
        guid, index = mailbox.guid, max(mailbox.index, 0)
        database = "NAMPR01DG%03d-db%03d" % (index % 400, index % 97)
        database_guid = _derived_guid(database, "database")
        server = "dm6pr01mb%04d" % (index % 9973)
        rtd = mailbox.rtd
        created, created_utc = _stamp(mailbox.created), _stamp(mailbox.created, utc=True)
        resource = {"RoomMailbox": "Room", "EquipmentMailbox": "Equipment"}.get(rtd)
        licensed = rtd == "UserMailbox"
        first, _sep, last = mailbox.display.partition(" ")
        return {
            "Database": database, "DatabaseGuid": database_guid, "ExchangeGuid": mailbox.exguid,
            "MailboxLocations": ["1;%s;Primary;namprd01.prod.outlook.com;%s" % (mailbox.exguid, database_guid)],
            "IsResource": resource is not None, "IsShared": rtd == "SharedMailbox", "ResourceType": resource,
            "RoomMailboxAccountEnabled": False if rtd == "RoomMailbox" else None,
            "SamAccountName": "$%s-%s" % (guid[:6].upper(), guid[-12:].upper()),
            "ServerLegacyDN": "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/"
                              "cn=" + server.upper(),
            "ServerName": server, "UserPrincipalName": mailbox.upn, "NetID": guid.replace("-", "")[:16].upper(),
            "WindowsLiveID": mailbox.upn, "MicrosoftOnlineServicesID": mailbox.upn, "MailboxPlan": self.plan,
            "SKUAssigned": licensed, "WhenMailboxCreated": created, "AccountDisabled": not licensed,
            "StsRefreshTokensValidFrom": created,
            "Alias": mailbox.alias, "CustomAttribute1": mailbox.ca1, "DisplayName": mailbox.display,
            "EmailAddresses": mailbox.email_addresses(), "ExternalDirectoryObjectId": mailbox.edoid,
            "HiddenFromAddressListsEnabled": mailbox.hidden,
            "LegacyExchangeDN": "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%s-%s"
                                % (guid.replace("-", ""), mailbox.alias[:8]),
            "PrimarySmtpAddress": mailbox.smtp, "RecipientTypeDetails": rtd,
            "UMDtmfMap": ["emailAddress:" + _dtmf(mailbox.alias), "lastNameFirstName:" + _dtmf(last + first),
                          "firstNameLastName:" + _dtmf(first + last)],
            "WindowsEmailAddress": mailbox.smtp, "Identity": mailbox.name, "Id": mailbox.name, "Name": mailbox.name,
            "DistinguishedName": mailbox.distinguished_name(self.domain),
            "WhenChanged": _stamp(mailbox.changed), "WhenCreated": created,
            "WhenChangedUTC": _stamp(mailbox.changed, utc=True), "WhenCreatedUTC": created_utc,
            "ExchangeObjectId": guid[24:] + guid[8:24] + guid[:8], "Guid": guid,
        }


# Varying properties that are plain attributes: a $select of only these skips the rest of the work.
PLAIN = {"Guid": lambda m: m.guid, "UserPrincipalName": lambda m: m.upn, "PrimarySmtpAddress": lambda m: m.smtp,
         "WindowsEmailAddress": lambda m: m.smtp, "RecipientTypeDetails": lambda m: m.rtd,
         "ExternalDirectoryObjectId": lambda m: m.edoid, "ExchangeGuid": lambda m: m.exguid, "Alias": lambda m: m.alias,
         "Name": lambda m: m.name, "Identity": lambda m: m.name, "Id": lambda m: m.name, "DisplayName": lambda m: m.display,
         "CustomAttribute1": lambda m: m.ca1, "HiddenFromAddressListsEnabled": lambda m: m.hidden,
         "EmailAddresses": lambda m: m.email_addresses()}


class _Slot:
    """A varying property's place in the pre-encoded record text."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def select(record, names):
    """The record reduced to the $select names (case-insensitive; unknown names are ignored),
    each with its annotations, in the record's order."""
    wanted = {name.lower() for name in names}
    selected = {}
    for key, value in record.items():
        if key.split("@", 1)[0].lower() in wanted:
            selected[key] = value
    return selected
