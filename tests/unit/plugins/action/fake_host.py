"""A fake Windows host behind ActionBase._execute_module, for the action plugins' unit tests.

It keeps services, user rights, registry values, folders and files, answers the way the
ansible.windows modules document (including check mode and failures), and checks every
call against the called module's documented options first.
"""
from __future__ import annotations

import copy
import fnmatch

from module_contract import check_call  # pylint: disable=import-error


class FakeWindowsHost:
    """State of one Windows host and the module calls made against it."""

    def __init__(self, services=None, rights=None, registry=None, folders=(), files=()):
        self.services = {service["name"]: dict(service) for service in services or []}
        self.rights = {name: set(users) for name, users in (rights or {}).items()}
        self.registry = copy.deepcopy(registry or {})
        self.folders = set(folders)
        self.files = list(files)
        self.calls = []
        self.passwords = {}
        self.fail = {}

    # the _execute_module boundary -------------------------------------------------------
    def execute_module(self, check_mode, module_name=None, module_args=None, task_vars=None, **kwargs):
        """Stand-in for ActionBase._execute_module, which runs the module in the task's check mode."""
        del task_vars, kwargs
        args = dict(module_args or {})
        check_call(module_name, args)
        self.calls.append((module_name, args, check_mode))
        if module_name in self.fail:
            return {"failed": True, "msg": self.fail[module_name]}
        handler = getattr(self, "_" + module_name.rsplit(".", 1)[1])
        return handler(args, check_mode)

    def writes(self):
        """The calls that would change the host outside check mode."""
        readers = ("win_service_info", "win_reg_stat", "win_stat", "win_find")
        return [call for call in self.calls if not call[0].endswith(readers)]

    # modules ------------------------------------------------------------------------------
    def _win_service_info(self, args, check_mode):
        name = args.get("name")
        services = [dict(service) for service in self.services.values()
                    if not name or fnmatch.fnmatch(service["name"].lower(), name.lower())
                    or service.get("display_name", "").lower() == name.lower()]
        return {"changed": False, "exists": bool(services), "services": services}

    def _win_user_right(self, args, check_mode):
        holders = self.rights.setdefault(args["name"], set())
        missing = [user for user in args["users"] if user.lower() not in {held.lower() for held in holders}]
        if not check_mode:
            holders.update(missing)
        return {"changed": bool(missing), "added": missing, "removed": []}

    def _win_service(self, args, check_mode):
        service = self.services.get(args["name"])
        if service is None:
            return {"failed": True, "msg": "Service '%s' is not installed, need to set 'path' to create a new service"
                    % args["name"]}
        changed = False
        if "username" in args and args["username"].lower() != service["username"].lower():
            changed = True
            if not check_mode:
                service["username"] = args["username"]
        if "password" in args and args.get("update_password") == "always":
            changed = True  # win_service cannot compare passwords
            if not check_mode:
                self.passwords[args["name"]] = args["password"]
        state = args.get("state")
        if state == "restarted" or (state and state != service["state"]):
            changed = True
            if not check_mode:
                service["state"] = "started" if state == "restarted" else state
        return {"changed": changed, "name": service["name"], "username": service["username"], "state": service["state"]}

    def _win_reg_stat(self, args, check_mode):
        key = self.registry.get(args["path"])
        if key is None:
            return {"changed": False, "exists": False}
        if "name" in args:
            if args["name"] not in key.get("values", {}):
                return {"changed": False, "exists": False}
            return {"changed": False, "exists": True, "type": "REG_SZ", "value": key["values"][args["name"]],
                    "raw_value": key["values"][args["name"]]}
        properties = {name: {"type": "REG_SZ", "value": value, "raw_value": value} for name, value in key.get("values", {}).items()}
        return {"changed": False, "exists": True, "properties": properties, "sub_keys": list(key.get("sub_keys", []))}

    def _win_regedit(self, args, check_mode):
        values = self.registry.setdefault(args["path"], {"values": {}}).setdefault("values", {})
        changed = values.get(args["name"]) != args["data"]
        if changed and not check_mode:
            values[args["name"]] = args["data"]
        return {"changed": changed, "data_changed": changed, "data_type_changed": False}

    def _win_stat(self, args, check_mode):
        exists = args["path"] in self.folders
        return {"changed": False, "stat": {"exists": exists, "isdir": exists, "path": args["path"]}}

    def _win_find(self, args, check_mode):
        found = [{"path": path} for path in self.files
                 if any(path.lower().startswith(folder.lower() + "\\") for folder in args["paths"])
                 and any(fnmatch.fnmatch(path.rsplit("\\", 1)[1].lower(), pattern) for pattern in args["patterns"])]
        return {"changed": False, "files": found, "matched": len(found), "examined": len(self.files)}
