# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find the MSE Windows service(s) on a host with ansible.windows.win_service_info."""

from __future__ import annotations

import ntpath

from ansible.errors import AnsibleActionFail

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import (
    KNOWN_SERVICE_NAMES,
    SERVICE_MATCH,
)

SERVICE_INFO = "ansible.windows.win_service_info"


def binary_of(path):
    """Return the executable of a service command line (quotes and arguments removed)."""
    text = (path or "").strip()
    if text.startswith('"'):
        return text[1:].split('"', 1)[0]
    lowered = text.lower()
    end = lowered.find(".exe")
    return text[:end + 4] if end >= 0 else text.split(" ", 1)[0]


def folder_of(path):
    """Return the folder of a service's executable, or None."""
    binary = binary_of(path)
    if not binary:
        return None
    return ntpath.dirname(binary) or None


SERVICE_FIELDS = ("name", "display_name", "path", "start_mode", "state", "username")


def service_records(result):
    """The services of a win_service_info RESULT with the fields an admin needs (no secrets are in them)."""
    records = []
    for index, raw in enumerate(result.want("services", list, elements=dict)):
        where = "services[%d]." % index
        records.append({field: result.want_from(raw, field, str, required=field == "name", where=where)
                        for field in SERVICE_FIELDS})
    return records


def _mentions_mimecast(raw):
    return any(SERVICE_MATCH in str(raw.get(field) or "").lower() for field in ("name", "display_name", "path"))


def find_services(runner, service_name=None):
    """Return (records, how): the MSE service candidates and how they were found.

    ``how`` is ``service_name`` (the given name), ``known_name`` (a name MSE is known to
    use) or ``search`` (every service whose name, display name or path mentions Mimecast).
    """
    if service_name:
        result = runner.run("Read service %s" % service_name, SERVICE_INFO, {"name": service_name})
        return service_records(result), "service_name"
    for name in KNOWN_SERVICE_NAMES:
        records = service_records(runner.run("Read service %s" % name, SERVICE_INFO, {"name": name}))
        if records:
            return records, "known_name"
    records = service_records(runner.run("List services", SERVICE_INFO, {}))
    return [record for record in records if _mentions_mimecast(record)], "search"


def resolve_service(runner, service_name=None):
    """Return the one MSE service record, or fail with a message that says what to do."""
    records, how = find_services(runner, service_name)
    if not records:
        if how == "service_name":
            raise AnsibleActionFail(
                "Find the MSE service failed: service %r does not exist on this host. Is the Mimecast "
                "Synchronization Engine installed? Run mimecast_mse.sync_engine.mse_site_info to see what is "
                "there." % service_name)
        raise AnsibleActionFail(
            "Find the MSE service failed: the Mimecast Synchronization Engine does not seem to be installed - "
            "there is no service named %s and no service whose name, display name or path mentions Mimecast. "
            "Install MSE first, or set service_name if it runs under another name."
            % " or ".join(KNOWN_SERVICE_NAMES))
    if len(records) > 1:
        raise AnsibleActionFail(
            "Find the MSE service failed: several services look like MSE (%s); set service_name to pick one."
            % ", ".join(sorted(str(record["name"]) for record in records)))
    return records[0]
