"""The seeded tenant: mailboxes, other recipients and mailbox permissions.

Mailboxes are small slotted objects; the full JSON record is built when a cmdlet
returns it. Default ACLs are derived from the mailbox index and the seed on every
read, so a 100,000-mailbox tenant starts in seconds: only changed ACLs are stored.
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import random
import threading
import time
import uuid

MAILBOX_TYPES = (("UserMailbox", 85), ("SharedMailbox", 8), ("RoomMailbox", 4), ("EquipmentMailbox", 2),
                 ("SchedulingMailbox", 1))
MAILBOX_RTDS = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "SchedulingMailbox",
                "DiscoveryMailbox", "LinkedMailbox", "TeamMailbox", "GroupMailbox")
RECIPIENT_TYPE = {
    "MailUser": "MailUser", "GuestMailUser": "MailUser", "MailContact": "MailContact",
    "MailUniversalSecurityGroup": "MailUniversalSecurityGroup",
    "MailUniversalDistributionGroup": "MailUniversalDistributionGroup",
}
ALL_RTDS = MAILBOX_RTDS + tuple(RECIPIENT_TYPE) + ("RemoteUserMailbox", "DynamicDistributionGroup", "PublicFolder")
SECURITY_PRINCIPALS = {"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "SchedulingMailbox",
                       "DiscoveryMailbox", "MailUser", "GuestMailUser", "MailUniversalSecurityGroup"}
DEPARTMENTS = ("Sales", "Marketing", "Engineering", "Finance", "HR", "Legal", "Support", "Operations", "IT",
               "Research", "")
FIRST = ("Adele", "Alex", "Allan", "Bianca", "Brian", "Carlos", "Chloe", "Christie", "Debra", "Diego", "Emily",
         "Enrico", "Fatima", "Grady", "Hana", "Henrietta", "Isaiah", "Ivan", "Jana", "Johanna", "Joni", "Kenji",
         "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Nora", "Olga", "Patti", "Pradeep", "Quinn", "Raul",
         "Sakura", "Sanjay", "Tomas", "Uma", "Vera", "Wen", "Xavier", "Yara", "Zoe")
LAST = ("Vance", "Wilber", "Deyoung", "Cruz", "Johnson", "Zhang", "Lee", "Kim", "Morris", "Garcia", "Muller",
        "Rossi", "Haddad", "Archie", "Sato", "Gonzalez", "Richter", "Holloway", "Nowak", "Svensson", "Sherman",
        "Tanaka", "Gupta", "Holt", "Robbins", "Bowen", "Lopez", "Moreno", "Petrov", "Patel", "Fernandes", "Quigley",
        "Okafor", "Schmidt", "Dubois", "Novak", "Ivanova", "Berg", "OBrien", "Lindqvist")
ORG_DC = "NAMPR01A001"
DN_SUFFIX = "OU=%s,OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"
FIRST_CREATED = datetime.datetime(2015, 3, 1, 9, 0, 0, tzinfo=datetime.timezone.utc)
LAST_CREATED = datetime.datetime(2025, 6, 1, 9, 0, 0, tzinfo=datetime.timezone.utc)
GUID_NAMES_FROM = datetime.datetime(2022, 6, 1, tzinfo=datetime.timezone.utc)
MAX_ACES = 500
CUSTOM_DOMAIN_FRACTION = 0.4
ORPHAN_SID_PREFIX = "S-1-5-21-3623811015-3361044348-30300820-"


def _hash01(*parts):
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def _iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Recipient:
    """One recipient. ``index`` is its position in creation order among mailboxes (-1 for others)."""

    __slots__ = ("index", "rtd", "upn", "alias", "name", "display", "guid", "edoid", "exguid", "dept", "ca1",
                 "hidden", "created", "changed", "smtp", "proxies", "visible_at", "seeded", "external")

    def __init__(self, index, rtd, upn, alias, name, display, guids, dept="", ca1="", hidden=False, created=None,
                 smtp=None, proxies=(), external=""):
        self.index = index
        self.rtd = rtd
        self.upn = upn
        self.alias = alias
        self.name = name
        self.display = display
        self.guid, self.edoid, self.exguid = guids
        self.dept = dept
        self.ca1 = ca1
        self.hidden = hidden
        self.created = created or FIRST_CREATED
        # WhenChanged: creation, attribute changes and permission writes move it (see README).
        self.changed = self.created
        self.smtp = smtp or upn
        self.proxies = tuple(proxies)
        self.visible_at = 0.0
        self.seeded = True
        self.external = external

    @property
    def is_mailbox(self):
        """True for mailboxes."""
        return self.rtd in MAILBOX_RTDS

    @property
    def recipient_type(self):
        """RecipientType (coarser than RecipientTypeDetails)."""
        return "UserMailbox" if self.is_mailbox else RECIPIENT_TYPE.get(self.rtd, self.rtd)

    @property
    def trustee_name(self):
        """How the recipient shows in a permission row's User column."""
        if self.rtd in ("MailUniversalSecurityGroup", "MailUniversalDistributionGroup"):
            return self.name
        return self.upn or self.name

    def email_addresses(self):
        """EmailAddresses: the primary SMTP in upper case prefix, proxies in lower case."""
        addresses = ["SMTP:" + self.smtp]
        addresses.extend("smtp:" + proxy for proxy in self.proxies)
        if self.external:
            addresses.append("SMTP:" + self.external if self.rtd == "MailContact" else "smtp:" + self.external)
        return addresses

    def identity_keys(self):
        """Lower-case strings that resolve to this recipient as -Identity."""
        keys = {self.guid, self.edoid, self.alias.lower(), self.name.lower(), self.smtp.lower()}
        if self.upn:
            keys.add(self.upn.lower())
        keys.update(proxy.lower() for proxy in self.proxies)
        if self.external:
            keys.add(self.external.lower())
        keys.discard("")
        return keys

    def prop(self, name):
        """Value of a filterable property (name in lower case), for OPATH."""
        getter = _PROPS.get(name)
        return getter(self) if getter else None

    def distinguished_name(self, domain):
        """A realistic DistinguishedName."""
        return "CN=%s,%s" % (self.name, DN_SUFFIX % domain)

    def record(self, domain):
        """The JSON object Get-Recipient returns (Get-Mailbox objects come from records.py)."""
        created = _iso(self.created)
        return {
            "Identity": self.name,
            "Id": self.name,
            "Name": self.name,
            "Alias": self.alias,
            "DisplayName": self.display,
            "DistinguishedName": self.distinguished_name(domain),
            "UserPrincipalName": self.upn,
            "PrimarySmtpAddress": self.smtp,
            "WindowsEmailAddress": self.smtp,
            "EmailAddresses@odata.type": "#Collection(String)",
            "EmailAddresses": self.email_addresses(),
            "ExternalEmailAddress": ("SMTP:" + self.external) if self.external else None,
            "RecipientType": self.recipient_type,
            "RecipientTypeDetails": self.rtd,
            "Guid@data.type": "System.Guid",
            "Guid@odata.type": "#Guid",
            "Guid": self.guid,
            "ExternalDirectoryObjectId": self.edoid,
            "ExchangeGuid": self.exguid if self.is_mailbox else "00000000-0000-0000-0000-000000000000",
            "Department": self.dept,
            "CustomAttribute1": self.ca1,
            "CustomAttribute2": "",
            "CustomAttribute3": "",
            "CustomAttribute4": "",
            "CustomAttribute5": "",
            "HiddenFromAddressListsEnabled": self.hidden,
            "WhenCreated": created,
            "WhenCreatedUTC": created.replace("+00:00", "Z"),
            "WhenChanged": _iso(self.changed),
            "WhenChangedUTC": _iso(self.changed).replace("+00:00", "Z"),
            "OrganizationalUnit": "%s/Microsoft Exchange Hosted Organizations/%s" % (ORG_DC.lower() + ".prod.outlook.com",
                                                                                     domain),
            "IsDirSynced": False,
            "ObjectState": "Unchanged",
            "IsValid": True,
            "ExchangeVersion": "0.20 (15.0.0.0)",
            "ObjectClass": ["top", "person", "organizationalPerson", "user"],
        }


_PROPS = {
    "recipienttypedetails": lambda r: r.rtd,
    "recipienttype": lambda r: r.recipient_type,
    "primarysmtpaddress": lambda r: r.smtp,
    "windowsemailaddress": lambda r: r.smtp,
    "userprincipalname": lambda r: r.upn,
    "alias": lambda r: r.alias,
    "displayname": lambda r: r.display,
    "name": lambda r: r.name,
    "department": lambda r: r.dept,
    "customattribute1": lambda r: r.ca1,
    "customattribute2": lambda r: "",
    "customattribute3": lambda r: "",
    "customattribute4": lambda r: "",
    "customattribute5": lambda r: "",
    "hiddenfromaddresslistsenabled": lambda r: r.hidden,
    "whencreated": lambda r: r.created,
    "whencreatedutc": lambda r: r.created,
    "whenmailboxcreated": lambda r: r.created,
    "whenchanged": lambda r: r.changed,
    "whenchangedutc": lambda r: r.changed,
    "guid": lambda r: r.guid,
    "externaldirectoryobjectid": lambda r: r.edoid,
    "emailaddresses": lambda r: r.email_addresses(),
    "ewsenabled": lambda r: None,  # a Get-CASMailbox property: org.py's CasView supplies the value
}
FILTERABLE = frozenset(_PROPS)
DATE_FILTERABLE = frozenset(name for name in _PROPS if name.startswith("when"))
# Fields of a mailbox the control API may change (POST /_emulator/mailboxes/update).
UPDATABLE = {"department": "dept", "custom_attribute1": "ca1", "type": "rtd", "display_name": "display"}


class Ace:
    """One permission row."""

    __slots__ = ("user", "rights", "deny", "inherited", "inheritance", "auto_mapping", "sid")

    def __init__(self, user, rights, deny=False, inherited=False, inheritance="All", auto_mapping=None, sid=""):
        self.user = user
        self.rights = list(rights)
        self.deny = deny
        self.inherited = inherited
        self.inheritance = inheritance
        self.auto_mapping = auto_mapping
        self.sid = sid

    def copy(self):
        """An independent copy."""
        return Ace(self.user, self.rights, self.deny, self.inherited, self.inheritance, self.auto_mapping, self.sid)

    def row(self, identity):
        """The Get-MailboxPermission row."""
        return {"Identity": identity, "User": self.user, "UserSid": self.sid, "AccessRights": list(self.rights),
                "IsInherited": self.inherited, "Deny": self.deny, "InheritanceType": self.inheritance,
                "IsValid": True, "ObjectState": "Unchanged"}

    def as_control(self):
        """The row as the control API shows it (with AutoMapping)."""
        return {"User": self.user, "UserSid": self.sid, "AccessRights": list(self.rights), "IsInherited": self.inherited,
                "Deny": self.deny, "InheritanceType": self.inheritance, "AutoMapping": self.auto_mapping}


@functools.lru_cache(maxsize=8192)
def _sid(seed, key):
    value = int(_hash01(seed, "sid", key) * 2 ** 30)
    return "S-1-5-21-1078081533-%d-%d-%d" % (value % 999999999, value % 87654321, 1000 + value % 900000)


INHERITED_ROWS = (
    (ORG_DC + "\\Administrator", ("FullAccess",), True),
    (ORG_DC + "\\Domain Admins", ("FullAccess",), True),
    (ORG_DC + "\\Enterprise Admins", ("FullAccess",), True),
    (ORG_DC + "\\Organization Management", ("FullAccess",), True),
    ("NT AUTHORITY\\SYSTEM", ("FullAccess",), False),
    ("NT AUTHORITY\\NETWORK SERVICE", ("ReadPermission",), False),
    (ORG_DC + "\\Administrator", ("FullAccess", "DeleteItem", "ReadPermission", "ChangePermission", "ChangeOwner"), False),
    (ORG_DC + "\\Domain Admins", ("FullAccess", "DeleteItem", "ReadPermission", "ChangePermission", "ChangeOwner"), False),
    (ORG_DC + "\\Exchange Servers", ("FullAccess", "ReadPermission"), False),
    (ORG_DC + "\\Managed Availability Servers", ("ReadPermission",), False),
    ("PRDMGT01\\View-Only Organization Management", ("ReadPermission",), False),
)


class Tenant:
    """All directory state of the one emulated tenant (thread-safe through ``lock``)."""

    def __init__(self, mailboxes=250, seed=1, domain="contoso.onmicrosoft.com", service_account="Svc-MSE",
                 granted_fraction=0.0, granted_user=None, custom_domain="contoso.com", custom_service_account="MSE-Sync"):
        self.lock = threading.RLock()
        self.seed = seed
        self.domain = domain
        self.custom_domain = custom_domain
        self.custom_service_account_upn = "%s@%s" % (custom_service_account, custom_domain)
        self.rng = random.Random(seed)
        self.mailboxes = []
        self.others = []
        self.mailbox_index = {}
        self.recipient_index = {}
        self.acl_changes = {}
        self.attribute_changes = {}  # guid -> the attributes before the first update, for reset()
        self.clock_skew = 0.0  # seconds the service's clock is ahead of the real one (runtime key clock_skew)
        self.extensions = {}  # state of other cmdlet families (org.py), dropped by reset()
        self.granted_fraction = granted_fraction
        self.service_account_upn = "%s@%s" % (service_account, domain)
        self._seed_mailboxes(max(int(mailboxes), 1))
        self._seed_others()
        self.seeded_count = len(self.mailboxes)
        self.added_counter = 0
        granted = self.resolve(granted_user) if granted_user else None
        self.granted_user = granted.trustee_name if granted else granted_user
        self.granted_key = granted.guid if granted else None

    # -- seeding -------------------------------------------------------------------

    def _guids(self):
        bits = self.rng.getrandbits
        return str(uuid.UUID(int=bits(128), version=4)), str(uuid.UUID(int=bits(128), version=4)), \
            str(uuid.UUID(int=bits(128), version=4))

    def _seed_mailboxes(self, count):
        rng = self.rng
        weights = []
        total = 0
        for rtd, weight in MAILBOX_TYPES:
            total += weight
            weights.append((total, rtd))
        span = (LAST_CREATED - FIRST_CREATED).total_seconds()
        used = set()
        guids = self._guids()
        self._add(Recipient(0, "UserMailbox", self.service_account_upn, "svc-mse", "svc-mse", "MSE Service Account",
                            guids, dept="IT", created=FIRST_CREATED,
                            proxies=("svc-mse@%s" % self.domain.replace(".onmicrosoft.com", ".mail.onmicrosoft.com"),)))
        used.add("svc-mse")
        discovery_at = max(2, count // 3)
        for index in range(1, count):
            created = FIRST_CREATED + datetime.timedelta(seconds=span * index / count + rng.random() * 3600)
            guids = self._guids()
            if index == discovery_at:
                rtd = "DiscoveryMailbox"
                local = "DiscoverySearchMailbox{D919BA05-46A6-415f-80AD-7E09334BB852}"
                display = "Discovery Search Mailbox"
                alias = "DiscoverySearchMailbox{D919BA05-46A6-415f-80AD-7E09334BB852}"
            else:
                pick = rng.random() * total
                rtd = next(name for bound, name in weights if pick < bound)
                first, last = FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))]
                if rtd == "UserMailbox":
                    local, display = "%s.%s" % (first, last), "%s %s" % (first, last)
                elif rtd == "SharedMailbox":
                    local, display = "shared-%s" % DEPARTMENTS[index % 10].lower(), "Shared %s" % DEPARTMENTS[index % 10]
                elif rtd == "RoomMailbox":
                    local, display = "room", "Conference Room"
                elif rtd == "EquipmentMailbox":
                    local, display = "equipment", "Equipment"
                else:
                    local, display = "scheduling", "Scheduling"
                if local.lower() in used:
                    local = "%s%d" % (local, index)
                    display = "%s %d" % (display, index)
                alias = local.replace(".", "")
            domain, drawn_rtd = self.domain, rtd
            if index == 1:
                # The second service account: mailbox-enabled, UPN in the verified custom domain.
                # (Drawn values above are discarded so every later mailbox stays as before.)
                rtd, display = "UserMailbox", "MSE Sync Service"
                local, domain = self.custom_service_account_upn.split("@")
                alias = local.lower()
            elif rtd == "UserMailbox" and _hash01(self.seed, index, "custom-domain") < CUSTOM_DOMAIN_FRACTION:
                domain = self.custom_domain
            used.add(local.lower())
            name = guids[1] if created >= GUID_NAMES_FROM else alias
            upn = "%s@%s" % (local, domain)
            dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))] if drawn_rtd == "UserMailbox" else ""
            ca1 = "MSE" if rng.random() < 0.2 else ""
            proxies = ["%s@%s" % (alias.lower(), self.domain.replace(".onmicrosoft.com", ".mail.onmicrosoft.com"))]
            if domain != self.domain:
                proxies.append("%s@%s" % (local.lower(), self.domain))
            if rng.random() < 0.1:
                proxies.append("%s.old@%s" % (local.lower(), self.domain))
            hidden = drawn_rtd in ("DiscoveryMailbox", "SchedulingMailbox") or rng.random() < 0.02
            if index == 1:
                dept, hidden = "IT", False
            self._add(Recipient(index, rtd, upn, alias, name, display, guids, dept=dept, ca1=ca1, hidden=hidden,
                                created=created, proxies=proxies))

    def _seed_others(self):
        domain = self.domain
        specs = (
            ("MailUser", "mailuser1@" + domain, "mailuser1", "mailuser1", "Mail User One", "", "mailuser1@fabrikam.com"),
            ("MailUser", "mailuser2@" + domain, "mailuser2", "mailuser2", "Mail User Two", "", "mailuser2@fabrikam.com"),
            ("GuestMailUser", "guest.partner_fabrikam.com#EXT#@" + domain, "guest.partner_fabrikam.com#EXT#",
             "guest.partner_fabrikam.com#EXT#", "Guest Partner", "guest.partner@fabrikam.com", ""),
            ("MailUniversalSecurityGroup", "", "helpdesk-team", "Helpdesk Team", "Helpdesk Team",
             "helpdesk-team@" + domain, ""),
            ("MailUniversalSecurityGroup", "", "sec-group", "sec-group", "Security Group", "sec-group@" + domain, ""),
            ("MailUniversalDistributionGroup", "", "all-staff", "All Staff", "All Staff", "all-staff@" + domain, ""),
            ("MailContact", "", "johnpartner", "John Partner", "John Partner", "john.partner@fabrikam.com", ""),
        )
        for rtd, upn, alias, name, display, smtp, external in specs:
            recipient = Recipient(-1, rtd, upn, alias, name, display, self._guids(), created=FIRST_CREATED,
                                  smtp=smtp or upn, external=external)
            if rtd == "MailContact":
                recipient.smtp = smtp
            self.others.append(recipient)
            for key in recipient.identity_keys():
                self.recipient_index.setdefault(key, recipient)

    def _add(self, mailbox):
        self.mailboxes.append(mailbox)
        for key in mailbox.identity_keys():
            self.mailbox_index.setdefault(key, mailbox)
            self.recipient_index.setdefault(key, mailbox)

    # -- added mailboxes and reset ---------------------------------------------------

    def add_mailboxes(self, count=0, specs=None, replication_delay=0.0):
        """Append mailboxes (control API); returns them. Raises ValueError on a clash."""
        created = []
        with self.lock:
            now = self.now()
            specs = list(specs or []) + [{} for _index in range(int(count or 0))]
            for spec in specs:
                self.added_counter += 1
                guids = self._guids()
                upn = spec.get("upn") or "new.user%d.%s@%s" % (self.added_counter, guids[0][:4], self.domain)
                if upn.lower() in self.recipient_index:
                    raise ValueError("a recipient with the address %s already exists" % upn)
                local = upn.split("@", 1)[0]
                rtd = spec.get("type") or spec.get("RecipientTypeDetails") or "UserMailbox"
                if rtd not in MAILBOX_RTDS:
                    raise ValueError("not a mailbox type: %s" % rtd)
                alias = spec.get("alias") or local.replace(".", "")
                if alias.lower() in self.recipient_index:
                    alias = "%s%d" % (alias, self.added_counter)
                mailbox = Recipient(len(self.mailboxes), rtd, upn, alias, spec.get("name") or guids[1],
                                    spec.get("display_name") or local.replace(".", " ").title(), guids,
                                    dept=spec.get("department", ""), ca1=spec.get("custom_attribute1", ""),
                                    created=now, proxies=["%s@%s" % (alias.lower(), self.domain.replace(
                                        ".onmicrosoft.com", ".mail.onmicrosoft.com"))])
                mailbox.seeded = False
                if replication_delay:
                    mailbox.visible_at = time.monotonic() + float(replication_delay)
                self._add(mailbox)
                created.append(mailbox)
        return created

    def reset(self):
        """Forget added mailboxes and every ACL change."""
        with self.lock:
            for mailbox in self.mailboxes[self.seeded_count:]:
                for key in mailbox.identity_keys():
                    if self.mailbox_index.get(key) is mailbox:
                        del self.mailbox_index[key]
                    if self.recipient_index.get(key) is mailbox:
                        del self.recipient_index[key]
            del self.mailboxes[self.seeded_count:]
            for guid, before in self.attribute_changes.items():
                mailbox = self.mailbox_index.get(guid)  # None for an added mailbox, gone already
                for attribute, value in before.items() if mailbox is not None else ():
                    setattr(mailbox, attribute, value)
            self.attribute_changes.clear()
            self.acl_changes.clear()
            self.extensions.clear()
            self.added_counter = 0

    def now(self):
        """The service's clock (whole seconds, as directory times are), ``clock_skew`` ahead of the real one."""
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.clock_skew)
        return now.replace(microsecond=0)

    def touch(self, mailbox):
        """A change to the mailbox object moves its WhenChanged (call with the lock held)."""
        if mailbox.guid not in self.attribute_changes:
            self.attribute_changes[mailbox.guid] = {"changed": mailbox.changed}
        mailbox.changed = self.now()

    def update_mailbox(self, identity, changes):
        """Change attributes of a mailbox (control API), as an admin or a sync would; returns it."""
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise ValueError("cannot update %s; updatable: %s" % (", ".join(unknown), ", ".join(sorted(UPDATABLE))))
        with self.lock:
            mailbox = self.find_mailbox(identity)
            if mailbox is None:
                raise ValueError("no mailbox %r" % identity)
            if "type" in changes and changes["type"] not in MAILBOX_RTDS:
                raise ValueError("not a mailbox type: %s" % changes["type"])
            self.touch(mailbox)
            before = self.attribute_changes[mailbox.guid]
            for name, value in changes.items():
                before.setdefault(UPDATABLE[name], getattr(mailbox, UPDATABLE[name]))
                setattr(mailbox, UPDATABLE[name], value)
        return mailbox

    # -- lookups ---------------------------------------------------------------------

    def find_mailbox(self, identity):
        """The mailbox an -Identity names, or None."""
        return self.mailbox_index.get(str(identity).strip().lower())

    def resolve(self, identity):
        """Any recipient an identity names, or None."""
        return self.recipient_index.get(str(identity).strip().lower())

    def replicated(self, mailbox):
        """False while a newly added mailbox is still replicating."""
        return not mailbox.visible_at or time.monotonic() >= mailbox.visible_at

    # -- permissions -------------------------------------------------------------------

    def default_acl(self, mailbox):
        """The seeded ACL of a mailbox, derived from its index and the seed."""
        seed, index = self.seed, mailbox.index
        aces = [Ace("NT AUTHORITY\\SELF", ("FullAccess", "ReadPermission"), sid="S-1-5-10")]
        aces.extend(Ace(user, rights, deny=deny, inherited=True, sid=_sid(seed, user)) for user, rights, deny in INHERITED_ROWS)
        if not mailbox.seeded:
            return aces
        if _hash01(seed, index, "group") < 0.10:
            aces.append(Ace("Helpdesk Team", ("FullAccess",), sid=_sid(seed, "helpdesk"), auto_mapping=False))
        if _hash01(seed, index, "orphan") < 0.05:
            orphan = ORPHAN_SID_PREFIX + str(5000 + index % 4000)
            aces.append(Ace(orphan, ("FullAccess",), sid=orphan))
        if _hash01(seed, index, "delegate") < 0.06 and self.seeded_count > 1:
            other = self.mailboxes[1 + int(_hash01(seed, index, "other") * (self.seeded_count - 1))]
            if other is not mailbox:
                aces.append(Ace(other.upn, ("FullAccess",), sid=_sid(seed, other.guid), auto_mapping=True))
        svc_roll = _hash01(seed, index, "svc")
        if index and svc_roll < 0.02:
            aces.append(Ace(self.service_account_upn, ("ReadPermission",), sid=_sid(seed, "svc")))
        elif index and svc_roll < 0.03:
            aces.append(Ace(self.service_account_upn, ("FullAccess",), deny=True, sid=_sid(seed, "svc")))
        if self.granted_fraction and self.granted_user and index and _hash01(seed, index, "granted") < self.granted_fraction:
            if not (self.granted_key and self.mailboxes[0].guid == self.granted_key and index == 0):
                aces.append(Ace(self.granted_user, ("FullAccess",), sid=_sid(seed, "granted"), auto_mapping=False))
        return aces

    def acl(self, mailbox):
        """The current ACL (a list the caller must not change)."""
        changed = self.acl_changes.get(mailbox.guid)
        return changed if changed is not None else self.default_acl(mailbox)

    def editable_acl(self, mailbox):
        """The ACL as a stored list that may be changed (call with the lock held)."""
        changed = self.acl_changes.get(mailbox.guid)
        if changed is None:
            changed = self.acl_changes[mailbox.guid] = self.default_acl(mailbox)
        return changed

    def trustee_sid(self, recipient):
        """A stable SID for a recipient used as trustee."""
        return _sid(self.seed, recipient.guid)
