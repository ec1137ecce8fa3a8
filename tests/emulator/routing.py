"""Which tenant names and X-AnchorMailbox routing hints the emulated service accepts.

Public clients anchor app-only calls on the tenant's system mailbox, addressed by the tenant
GUID (CIPP ``New-ExoRequest``) or the initial domain (CIPP ``New-ExoBulkRequest``,
jflieben/M365Permissions ``new-ExOQuery``), or on a mailbox's UPN (ExoHelper with
``-AnchorMailbox``). None anchors on a custom domain; refusing everything else is the strict
reading (see README).
"""
from __future__ import annotations

# bb558c35…: the v3 module, CIPP, M365Permissions, ExoHelper; 8cc370d3…: CIPP's bulk requests.
SYSTEM_MAILBOX_GUIDS = ("bb558c35-97f1-4cb9-8ff7-d53741dc928c", "8cc370d3-822a-4ab8-a926-bb94bd0641a9")


class Directory:
    """The names one tenant answers to."""

    def __init__(self, tenant_id, initial_domain, custom_domains, tenant):
        self.tenant_id = tenant_id.lower()
        self.initial_domain = initial_domain.lower()
        self.custom_domains = tuple(domain.lower() for domain in custom_domains)
        self.tenant = tenant

    def path_problem(self, segment):
        """None when the /adminapi/beta/{tenant}/ segment names this tenant as the service expects, else why not."""
        name = str(segment).lower()
        if name in (self.tenant_id, self.initial_domain):
            return None
        if name in self.custom_domains:
            return ("'%s' is a custom domain: name the tenant by its GUID (%s) or its initial domain (%s)"
                    % (segment, self.tenant_id, self.initial_domain))
        return "The tenant '%s' does not match the token's tenant" % segment

    def anchor_problem(self, anchor):
        """None when X-AnchorMailbox routes to this tenant, else the reason it does not."""
        if not anchor or not str(anchor).strip():
            return "the X-AnchorMailbox header is missing"
        prefix, sep, value = str(anchor).strip().partition(":")
        prefix = prefix.upper()
        if not sep or prefix not in ("APP", "UPN"):
            return "the routing hint type %r is not accepted here (APP: or UPN:)" % (prefix if sep else anchor)
        if value.lower().startswith("systemmailbox{"):
            return self._system_mailbox_problem(prefix, value)
        if prefix == "UPN":
            mailbox = self.tenant.find_mailbox(value)
            if mailbox is None or (mailbox.upn or "").lower() != value.lower():
                return "no mailbox in this organization has the user principal name '%s'" % value
            return None
        return "APP: names a system mailbox"

    def _system_mailbox_problem(self, prefix, value):
        guid, _sep, rest = value[len("systemmailbox{"):].partition("}")
        if guid.lower() not in SYSTEM_MAILBOX_GUIDS:
            return "SystemMailbox{%s} is not a system mailbox of this organization" % guid
        domain = rest[1:].lower() if rest.startswith("@") else ""
        accepted = (self.tenant_id, self.initial_domain) if prefix == "APP" else (self.initial_domain,)
        if domain in accepted:
            return None
        if domain in self.custom_domains:
            return "the system mailbox is addressed by the custom domain '%s'; use %s" % (
                domain, " or ".join(accepted))
        return "the system mailbox names '%s', not this organization (%s)" % (domain, " or ".join(accepted))
