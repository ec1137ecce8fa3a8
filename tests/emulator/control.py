"""Start, stop and drive the emulator from Python (tests, demo, benchmarks)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTION_FLAGS = ("mailboxes", "seed", "port", "latency_ms", "latency_ms_max", "read_rate", "read_burst", "write_rate",
                "write_burst", "max_concurrency", "token_lifetime", "nextlink_ttl", "replication_delay",
                "granted_fraction", "granted_user", "transfer_rate", "existing_grant_answer", "retry_after_style",
                "clock_skew")


class EmulatorError(RuntimeError):
    """The emulator did not start or stop as asked."""


def command_line(state_dir, options, action="serve"):
    """The argv that runs ``python -m emulator <action>`` with these options."""
    argv = [sys.executable, "-m", "emulator", action, "--state-dir", str(state_dir)]
    for name in OPTION_FLAGS:
        value = options.get(name)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    unknown = sorted(set(options) - set(OPTION_FLAGS))
    if unknown:
        raise TypeError("unknown emulator options: %s" % ", ".join(unknown))
    return argv


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def read_info(state_dir):
    """The emulator.json of a state dir, or None."""
    path = os.path.join(str(state_dir), "emulator.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def spawn(state_dir, options, timeout=120.0):
    """Start ``python -m emulator serve`` detached; wait until it answers. Returns (Popen, info)."""
    state_dir = os.path.abspath(str(state_dir))
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, "emulator.json")
    old = read_info(state_dir)
    if old and _alive(old.get("pid", -1)) and EmulatorControl(old).healthy():
        raise EmulatorError("an emulator (pid %s) already runs for %s: stop it first" % (old["pid"], state_dir))
    if os.path.exists(path):
        os.remove(path)
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = open(os.path.join(state_dir, "emulator.log"), "ab")  # pylint: disable=consider-using-with
    try:
        process = subprocess.Popen(command_line(state_dir, options), stdin=subprocess.DEVNULL, stdout=log,  # pylint: disable=consider-using-with
                                   stderr=subprocess.STDOUT, env=env, cwd=state_dir, start_new_session=True)
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError("the emulator exited with %s; see %s" % (
                process.returncode, os.path.join(state_dir, "emulator.log")))
        info = read_info(state_dir)
        if info and info.get("pid") == process.pid and EmulatorControl(info).healthy():
            return process, info
        time.sleep(0.05)
    process.terminate()
    raise EmulatorError("the emulator did not answer within %.0f s; see %s" % (
        timeout, os.path.join(state_dir, "emulator.log")))


def stop_state_dir(state_dir, timeout=15.0):
    """Stop the emulator of a state dir (POST shutdown, then SIGTERM, then SIGKILL). True if one was running."""
    info = read_info(state_dir)
    if not info:
        return False
    pid = info.get("pid")
    if not pid or not _alive(pid):
        return False
    try:
        EmulatorControl(info).shutdown()
    except requests.RequestException:
        pass
    deadline = time.monotonic() + timeout
    signalled = False
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        if not signalled and time.monotonic() > deadline - timeout / 2:
            os.kill(pid, signal.SIGTERM)
            signalled = True
        time.sleep(0.05)
    return True


class EmulatorControl:
    """Client of the control API (``/_emulator/...``); every method returns the decoded JSON."""

    def __init__(self, info, session=None):
        self.info = info
        self.url = info["base_url"] + "/_emulator"
        self.verify = info["ca_path"]
        self.session = session or requests.Session()

    def _call(self, method, route, body=None, params=None, timeout=60):
        response = self.session.request(method, "%s/%s" % (self.url, route), json=body, params=params,
                                        verify=self.verify, timeout=timeout)
        if response.status_code >= 400:
            raise EmulatorError("control %s %s answered %s: %s" % (method, route, response.status_code, response.text))
        return response.json()

    def healthy(self):
        """True when the server answers."""
        try:
            return self._call("GET", "health", timeout=2)["ok"]
        except (requests.RequestException, EmulatorError, ValueError):
            return False

    def stats(self):
        """Request statistics."""
        return self._call("GET", "stats")

    def reset_stats(self):
        """Zero the statistics."""
        return self._call("POST", "stats/reset")

    def reset(self):
        """Restore the seeded state: ACLs, added mailboxes, faults, config, revocations, stats."""
        return self._call("POST", "reset")

    def config(self, **changes):
        """Change runtime settings (latency_ms, read_rate, ...); returns the whole config."""
        return self._call("POST", "config", changes) if changes else self._call("GET", "config")

    def org(self, **changes):
        """The organisation state (EWS policy, RBAC objects); POST ``changes`` first when given."""
        return self._call("POST", "org", changes) if changes else self._call("GET", "org")

    def graph(self, **changes):
        """The emulated Microsoft Graph state; POST ``changes`` first when given."""
        return self._call("POST", "graph", changes) if changes else self._call("GET", "graph")

    def add_faults(self, *rules):
        """Add fault rules; returns the active rules."""
        return self._call("POST", "faults", list(rules))["rules"]

    def faults(self):
        """The active fault rules."""
        return self._call("GET", "faults")["rules"]

    def clear_faults(self):
        """Remove every fault rule."""
        return self._call("DELETE", "faults")

    def revoke_tokens(self):
        """Every token issued so far becomes invalid."""
        return self._call("POST", "tokens/revoke")

    def sink_requests(self):
        """What the sink listeners received (names and credential flags only, never values)."""
        return self._call("GET", "sink")["requests"]

    def clear_sink(self):
        """Forget the sink's records."""
        return self._call("DELETE", "sink")

    def add_mailboxes(self, count=0, mailboxes=None, replication_delay=None):
        """Add mailboxes at the end of the listing order; returns their Get-Mailbox records."""
        body = {"count": count}
        if mailboxes:
            body["mailboxes"] = mailboxes
        if replication_delay is not None:
            body["replication_delay"] = replication_delay
        return self._call("POST", "mailboxes", body)["mailboxes"]

    def update_mailbox(self, identity, **changes):
        """Change a mailbox's attributes (department, custom_attribute1, type, display_name); moves its WhenChanged."""
        return self._call("POST", "mailboxes/update", {"identity": identity, "changes": changes})

    def mailboxes(self, offset=0, limit=1000):
        """Compact rows of the tenant's mailboxes in listing order: {"total": n, "mailboxes": [...]}."""
        return self._call("GET", "mailboxes", params={"offset": offset, "limit": limit})

    def acl(self, identity):
        """A mailbox's full ACL (rows with AutoMapping) as {"identity", "guid", "upn", "changed", "acl"}."""
        return self._call("GET", "acl", params={"identity": identity})

    def set_acl(self, identity=None, rows=None, identities=None, replace=False, **row):
        """Add permission rows directly (test setup). A row: user, access_rights, deny, inherited,
        inheritance_type, auto_mapping. With replace=True the explicit rows (except SELF) go first."""
        body = {"identities": identities or [identity], "replace": replace}
        body["rows"] = rows if rows is not None else [row]
        return self._call("POST", "acl", body)

    def grant(self, identity, user, access_rights=("FullAccess",), auto_mapping=False):
        """Shortcut: an explicit allow row for user on the mailbox."""
        return self.set_acl(identity, user=user, access_rights=list(access_rights), auto_mapping=auto_mapping)

    def shutdown(self):
        """Ask the server to exit."""
        return self._call("POST", "shutdown", timeout=5)


class EmulatorProcess:
    """A detached emulator process bound to a state dir.

    ``EmulatorProcess(state_dir, mailboxes=250, seed=1, latency_ms=0, ...)``; use as a context
    manager or call start()/stop(). ``info`` is emulator.json, ``control`` an EmulatorControl.
    """

    def __init__(self, state_dir, **options):
        command_line(state_dir, options)  # validates the option names
        self.state_dir = os.path.abspath(str(state_dir))
        self.options = options
        self.process = None
        self.info = None
        self.control = None

    def start(self, timeout=120.0):
        """Start and wait until it answers; returns self."""
        self.process, self.info = spawn(self.state_dir, self.options, timeout)
        self.control = EmulatorControl(self.info)
        return self

    def stop(self):
        """Stop the process (idempotent)."""
        if self.info is not None:
            stop_state_dir(self.state_dir)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    @property
    def base_url(self):
        """https://127.0.0.1:PORT"""
        return self.info["base_url"]

    @property
    def ca_path(self):
        """The CA PEM that verifies the server."""
        return self.info["ca_path"]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
