# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake Windows host behind ActionBase._execute_module.

It holds services, accounts (names resolved to SIDs as Windows does), user rights,
registry keys and files, and answers like the ansible.windows modules do, check mode
and failures included. Every call is first checked against the called module's
documented options (module_contract), so a wrong name, type or choice fails the test.
"""

from __future__ import annotations

import copy
import fnmatch
import ntpath

from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.action.module_contract import check_call

READ_ONLY = {"ansible.windows.win_service_info", "ansible.windows.win_reg_stat", "ansible.windows.win_stat",
             "ansible.windows.win_find"}
# options each real module marks no_log itself (masked in its invocation)
MODULE_NO_LOG = {"ansible.windows.win_service": {"password"}}
HOSTNAME = "MSE01"


class ModuleFailure(Exception):
    """The module would fail with this message."""


class Call:
    """One module call: name, args, and the task's check mode and no_log at that moment."""

    def __init__(self, module, args, check_mode, no_log):
        self.module, self.args, self.check_mode, self.no_log = module, args, check_mode, no_log

    def __repr__(self):
        return "Call(%s, %r, check_mode=%s, no_log=%s)" % (self.module, self.args, self.check_mode, self.no_log)


class FakeWindowsHost:
    """State of one Windows host and the module calls made against it."""

    def __init__(self):
        self.sids = {}  # lower-case name -> SID
        self.display = {}  # SID -> the name Windows shows
        self.account_passwords = {}  # SID -> the account's real password
        self.services = {}  # lower-case name -> service dict (password kept for logon checks)
        self.rights = {}  # right -> set of SIDs
        self.registry = {}  # lower-case key -> {"path": key, "values": {name: (type, data)}}
        self.paths = {}  # lower-case path -> {"path": path, "isdir": bool}
        self.calls = []
        self.fail = {}  # module -> message, or (module, step predicate) -> message
        self.reshape = {}  # module, or (module, args predicate) -> function(result) returning what the module returns
        self.add_account("S-1-5-18", "LocalSystem", "SYSTEM", "NT AUTHORITY\\SYSTEM")
        self.add_account("S-1-5-19", "NT AUTHORITY\\LocalService", "LocalService", "NT AUTHORITY\\LOCAL SERVICE")
        self.add_account("S-1-5-20", "NT AUTHORITY\\NetworkService", "NetworkService",
                         "NT AUTHORITY\\NETWORK SERVICE")

    # ---------------------------------------------------------------- building the host
    def add_account(self, sid, *names, password=None):
        """Register an account under all its NAMES (first is what Windows displays)."""
        for name in names:
            self.sids[name.lower()] = sid
        self.display.setdefault(sid, names[0])
        if password is not None:
            self.account_passwords[sid] = password
        return self

    def add_service(self, name, username="NT AUTHORITY\\NetworkService", state="running", password=None,
                    display_name=None, path=None):
        """Install a service."""
        self.services[name.lower()] = {
            "name": name, "display_name": display_name or name, "path": path or "C:\\Windows\\%s.exe" % name,
            "start_mode": "auto", "state": state, "username": username, "password": password,
        }
        return self

    def add_key(self, path, **values):
        """Create a registry key with REG_SZ VALUES."""
        self.registry[path.lower()] = {"path": path, "values": {k: ("REG_SZ", v) for k, v in values.items()}}
        return self

    def add_path(self, path, isdir=False):
        """Create a file or folder (and its parent folders)."""
        self.paths[path.lower()] = {"path": path, "isdir": isdir}
        parent = ntpath.dirname(path)
        if parent and parent != path and parent.lower() not in self.paths:
            self.add_path(parent, isdir=True)
        return self

    def snapshot(self):
        """A deep copy of the mutable state, to prove check mode changed nothing."""
        return copy.deepcopy((self.services, self.rights, self.registry))

    # ------------------------------------------------------------ the _execute_module seam
    def executor(self, action):
        """A stand-in for ``action._execute_module`` bound to this host."""
        def execute_module(module_name=None, module_args=None, tmp=None, task_vars=None, **kwargs):
            del tmp, task_vars, kwargs
            check_mode = bool(action._task.check_mode)  # pylint: disable=protected-access
            no_log = bool(action._task.no_log)  # pylint: disable=protected-access
            args = copy.deepcopy(dict(module_args or {}))
            check_call(module_name, args, check_mode)
            self.calls.append(Call(module_name, args, check_mode, no_log))
            for key, message in self.fail.items():
                if key == module_name or (isinstance(key, tuple) and key[0] == module_name and key[1](args)):
                    return {"failed": True, "msg": message, "changed": False}
            handler = getattr(self, "_" + module_name.rsplit(".", 1)[1])
            try:
                result = handler(args, check_mode)
            except ModuleFailure as exc:
                result = {"failed": True, "msg": str(exc), "changed": False}
            if not no_log:  # Ansible.Basic returns the invocation with the module's own no_log options masked
                masked = {k: ("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" if k in MODULE_NO_LOG.get(module_name, ()) else v)
                          for k, v in args.items()}
                result["invocation"] = {"module_args": masked}
            return self._reshaped(module_name, args, result)
        return execute_module

    def _reshaped(self, module_name, args, result):
        """RESULT as a test wants it mangled (a string where a list is documented, a key missing, ...)."""
        for key, reshape in self.reshape.items():
            if key == module_name or (isinstance(key, tuple) and key[0] == module_name and key[1](args)):
                return reshape(result)
        return result

    def writes(self):
        """Calls to modules that change the host."""
        return [call for call in self.calls if call.module not in READ_ONLY
                and not (call.module == "ansible.windows.win_service" and set(call.args) == {"name"})]

    def calls_to(self, module):
        """The calls made to MODULE."""
        return [call for call in self.calls if call.module == "ansible.windows." + module]

    # ----------------------------------------------------------------------- helpers
    def resolve(self, name):
        """Name -> SID as Windows' NTAccount.Translate does, or fail like it."""
        text = name
        if text.startswith(".\\"):
            text = HOSTNAME + text[1:]
        sid = self.sids.get(text.lower())
        if not sid:
            raise ModuleFailure('Exception calling "Translate" with "1" argument(s): "Some or all identity '
                                'references could not be translated." (%s)' % name)
        return sid

    def _service(self, name):
        return self.services.get((name or "").lower())

    @staticmethod
    def _service_info(service):
        info = {key: service[key] for key in ("name", "display_name", "path", "start_mode", "state", "username")}
        info.update({"service_type": "win32_own_process", "dependencies": [], "dependency_of": []})
        return info

    # ----------------------------------------------------------------------- modules
    def _win_service_info(self, args, check_mode):
        del check_mode
        name = args.get("name")
        if name:
            services = [s for s in self.services.values() if s["name"].lower() == name.lower()]
            if not services:  # Get-Service -Name also matches wildcards and display names
                services = [s for s in self.services.values()
                            if fnmatch.fnmatch(s["name"].lower(), name.lower()) or s["display_name"].lower() == name.lower()]
        else:
            services = list(self.services.values())
        return {"changed": False, "exists": bool(services), "services": [self._service_info(s) for s in services]}

    def _start(self, service, check_mode):
        if check_mode:  # Start-Service -WhatIf: nothing is started, so nothing can fail to log on
            service["state"] = "running"
            return
        sid = self.resolve(service["username"])
        if sid not in ("S-1-5-18", "S-1-5-19", "S-1-5-20"):
            if sid not in self.rights.get("SeServiceLogonRight", set()):
                raise ModuleFailure("Failed to start service %s: the service did not start due to a logon failure "
                                    "(account lacks SeServiceLogonRight)" % service["name"])
            if self.account_passwords.get(sid) != service["password"]:
                raise ModuleFailure("Failed to start service %s: the service did not start due to a logon failure"
                                    % service["name"])
        service["state"] = "running"

    def _win_service(self, args, check_mode):
        service = self._service(args["name"])
        if service is None:
            if not args.get("path"):
                raise ModuleFailure("Service '%s' is not installed, need to set 'path' to create a new service"
                                    % args["name"])
            raise ModuleFailure("creating services is not emulated")
        changed = False
        work = copy.deepcopy(service)
        if args.get("username") is not None:
            desired = self.resolve(args["username"])
            update_password = args.get("update_password") == "always"
            if desired != self.resolve(work["username"]):
                work["username"] = self.display[desired]
                update_password = True
                changed = True
            if update_password and args.get("password"):
                work["password"] = args["password"]
                changed = True
        state = args.get("state")
        if state == "started" and work["state"] != "running":
            self._start(work, check_mode)
            changed = True
        elif state == "stopped" and work["state"] != "stopped":
            work["state"] = "stopped"
            changed = True
        elif state == "restarted":
            work["state"] = "stopped"
            self._start(work, check_mode)
            changed = True
        if not check_mode:
            service.update(work)
        shown = service if check_mode else work
        result = {"changed": changed, "exists": True}
        result.update(self._service_info(shown))
        return result

    def _win_user_right(self, args, check_mode):
        if args.get("action", "set") != "add":
            raise ModuleFailure("only action=add is emulated")
        holders = self.rights.get(args["name"], set())
        added = []
        for user in args["users"]:
            sid = self.resolve(user)
            if sid not in holders:
                added.append(self.display[sid])
                if not check_mode:
                    holders = self.rights.setdefault(args["name"], holders)
                    holders.add(sid)
        return {"changed": bool(added), "added": added, "removed": []}

    def _win_reg_stat(self, args, check_mode):
        del check_mode
        key = self.registry.get(args["path"].lower())
        if key is None:
            return {"changed": False, "exists": False}
        prefix = args["path"].lower().rstrip("\\") + "\\"
        sub_keys = sorted({k[len(prefix):].split("\\")[0] for k in self.registry if k.startswith(prefix)})
        if args.get("name"):
            if args["name"] not in key["values"]:
                return {"changed": False, "exists": False}
            kind, data = key["values"][args["name"]]
            return {"changed": False, "exists": True, "type": kind, "value": data, "raw_value": data}
        properties = {name: {"type": kind, "value": data, "raw_value": data}
                      for name, (kind, data) in key["values"].items()}
        return {"changed": False, "exists": True, "properties": properties,
                "sub_keys": [self.registry[prefix + s.lower()]["path"][len(prefix):] if prefix + s.lower() in self.registry
                             else s for s in sub_keys]}

    def _win_regedit(self, args, check_mode):
        kinds = {"string": "REG_SZ", "dword": "REG_DWORD", "expandstring": "REG_EXPAND_SZ"}
        path = args["path"]
        key = self.registry.get(path.lower())
        new = (kinds[args.get("type", "string")], args.get("data"))
        changed = key is None or key["values"].get(args.get("name")) != new
        if changed and not check_mode:
            key = self.registry.setdefault(path.lower(), {"path": path, "values": {}})
            key["values"][args["name"]] = new
        return {"changed": changed, "data_changed": changed, "data_type_changed": False}

    def _win_stat(self, args, check_mode):
        del check_mode
        entry = self.paths.get(args["path"].lower().rstrip("\\"))
        if entry is None:
            return {"changed": False, "stat": {"exists": False}}
        return {"changed": False, "stat": {"exists": True, "isdir": entry["isdir"], "path": entry["path"]}}

    def _win_find(self, args, check_mode):
        del check_mode
        files = []
        examined = 0
        for root in args["paths"]:
            prefix = root.lower().rstrip("\\") + "\\"
            for lower, entry in sorted(self.paths.items()):
                if not lower.startswith(prefix) or entry["isdir"]:
                    continue
                examined += 1
                level = lower[len(prefix):].count("\\")
                if level and not args.get("recurse"):
                    continue
                if args.get("depth") is not None and level >= args["depth"]:
                    continue
                name = ntpath.basename(entry["path"])
                if any(fnmatch.fnmatch(name.lower(), p.lower()) for p in args.get("patterns") or ["*"]):
                    files.append({"path": entry["path"], "filename": name, "isdir": False, "exists": True})
        return {"changed": False, "examined": examined, "matched": len(files), "files": files}
