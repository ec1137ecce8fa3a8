"""The control API (``/_emulator/...``): no auth, loopback only. See README.md."""
from __future__ import annotations

import os
import threading
import time

from . import graph, org
from .tenant import Ace


def handle(handler, method, parts, query, body):
    """Answer one control request through handler.reply(status, body)."""
    engine = handler.engine
    route = "/".join(parts)
    reply = handler.reply
    try:
        if method == "GET" and route in ("health", ""):
            return reply(200, {"ok": True, "pid": os.getpid()})
        if method == "GET" and route == "info":
            return reply(200, engine.info())
        if method == "GET" and route == "stats":
            return reply(200, engine.stats.snapshot(engine.concurrency))
        if method == "POST" and route == "stats/reset":
            engine.stats.reset()
            return reply(200, {"ok": True})
        if method == "POST" and route == "reset":
            started = time.monotonic()
            engine.reset()
            return reply(200, {"ok": True, "seconds": round(time.monotonic() - started, 4)})
        if method == "GET" and route == "config":
            return reply(200, engine.config)
        if method == "POST" and route == "config":
            return reply(200, engine.configure(body or {}))
        if route == "faults":
            return _faults(handler, method, body)
        if method == "POST" and route == "tokens/revoke":
            engine.authority.revoke_all()
            return reply(200, {"ok": True})
        if route == "sink":
            return _sink(handler, method)
        if method == "POST" and route == "mailboxes":
            return _add_mailboxes(handler, body or {})
        if method == "POST" and route == "mailboxes/update":
            mailbox = engine.tenant.update_mailbox(body.get("identity") or "", body.get("changes") or {})
            return reply(200, engine.records.record(mailbox))
        if method == "GET" and route == "mailboxes":
            return _list_mailboxes(handler, query)
        if route == "acl" and method == "GET":
            return _get_acl(handler, (query.get("identity") or [""])[0])
        if route == "acl" and method == "POST":
            return reply(200, {"changed": _set_acl(engine.tenant, body or {})})
        if route == "org":
            return reply(200, org.control(engine.tenant, method, body))
        if route == "graph":
            return reply(200, graph.control(engine, method, body))
        if method == "POST" and route == "shutdown":
            reply(200, {"ok": True})
            threading.Thread(target=handler.server.shutdown, daemon=True).start()
            return None
    except (ValueError, TypeError, KeyError) as exc:
        return reply(400, {"error": str(exc)})
    return reply(404, {"error": "no control route %s %s" % (method, route)})


def _faults(handler, method, body):
    engine = handler.engine
    if method == "GET":
        return handler.reply(200, {"rules": engine.faults.describe()})
    if method == "POST":
        return handler.reply(200, {"rules": engine.add_faults(body or [])})
    if method == "DELETE":
        engine.faults.clear()
        return handler.reply(200, {"rules": []})
    return handler.reply(405, {"error": "GET, POST or DELETE"})


def _sink(handler, method):
    sink = handler.engine.sink
    if method == "GET":
        records = sink.snapshot()
        return handler.reply(200, {"count": len(records), "requests": records})
    if method == "DELETE":
        sink.clear()
        return handler.reply(200, {"count": 0, "requests": []})
    return handler.reply(405, {"error": "GET or DELETE"})


def _add_mailboxes(handler, body):
    engine = handler.engine
    delay = body.get("replication_delay")
    if delay is None:
        delay = engine.config["replication_delay"]
    created = engine.tenant.add_mailboxes(int(body.get("count") or 0), body.get("mailboxes"), float(delay or 0))
    return handler.reply(200, {"mailboxes": [engine.records.record(mailbox) for mailbox in created]})


def _list_mailboxes(handler, query):
    tenant = handler.engine.tenant
    offset = int((query.get("offset") or ["0"])[0])
    limit = int((query.get("limit") or ["1000"])[0])
    rows = [{"Guid": m.guid, "UserPrincipalName": m.upn, "PrimarySmtpAddress": m.smtp, "Name": m.name,
             "RecipientTypeDetails": m.rtd, "Department": m.dept, "Seeded": m.seeded}
            for m in tenant.mailboxes[offset:offset + limit]]
    return handler.reply(200, {"total": len(tenant.mailboxes), "mailboxes": rows})


def _get_acl(handler, identity):
    tenant = handler.engine.tenant
    mailbox = tenant.find_mailbox(identity)
    if mailbox is None:
        return handler.reply(404, {"error": "no mailbox %r" % identity})
    with tenant.lock:
        rows = [ace.as_control() for ace in tenant.acl(mailbox)]
    return handler.reply(200, {"identity": mailbox.name, "guid": mailbox.guid, "upn": mailbox.upn,
                               "changed": mailbox.guid in tenant.acl_changes, "acl": rows})


def _set_acl(tenant, body):
    """Add rows (or replace the explicit rows) on one or more mailboxes; returns their names."""
    identities = body.get("identities") or [body.get("identity")]
    rows = body.get("rows")
    if rows is None:
        rows = [{key: body[key] for key in body if key not in ("identity", "identities", "replace")}]
    changed = []
    with tenant.lock:
        for identity in identities:
            mailbox = tenant.find_mailbox(identity or "")
            if mailbox is None:
                raise ValueError("no mailbox %r" % identity)
            acl = tenant.editable_acl(mailbox)
            tenant.touch(mailbox)
            if body.get("replace"):
                acl[:] = [ace for ace in acl if ace.inherited or ace.user == "NT AUTHORITY\\SELF"]
            acl.extend(_ace(tenant, row) for row in rows)
            changed.append(mailbox.name)
    return changed


def _ace(tenant, row):
    user = row.get("user") or row.get("User")
    recipient = tenant.resolve(user) if user else None
    name = recipient.trustee_name if recipient is not None else user
    if not name:
        raise ValueError("each row needs a user")
    rights = row.get("access_rights") or row.get("AccessRights") or ["FullAccess"]
    return Ace(name, [rights] if isinstance(rights, str) else rights,
               deny=bool(row.get("deny", row.get("Deny", False))),
               inherited=bool(row.get("inherited", row.get("IsInherited", False))),
               inheritance=row.get("inheritance_type", row.get("InheritanceType", "All")),
               auto_mapping=row.get("auto_mapping", row.get("AutoMapping")),
               sid=tenant.trustee_sid(recipient) if recipient is not None else "")
