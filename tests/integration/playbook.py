"""Run a module of the collection (o365_mailbox_fullaccess by default) through ansible-playbook, as a user would."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, ".build", "linked")
MODULE = "mimecast_mse.sync_engine.o365_mailbox_fullaccess"


class PlaybookRun:
    """What one ansible-playbook run printed and what the module returned."""

    def __init__(self, returncode, stdout, stderr, result):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.result = result

    @property
    def output(self):
        """Everything the run printed."""
        return self.stdout + self.stderr

    def __repr__(self):
        return "PlaybookRun(rc=%s, result=%s)" % (self.returncode, json.dumps(self.result)[:2000])


def connection_args(info, app="secret"):
    """Module options that point at the emulator with one of its registered apps."""
    args = {
        "tenant": info["tenant_domain"],
        "login_url": info["login_url"],
        "exchange_url": info["exchange_url"],
        "ca_path": info["ca_path"],
        "client_id": info["apps"][app]["client_id"],
    }
    if "client_secret" in info["apps"][app]:
        args["client_secret"] = info["apps"][app]["client_secret"]
    return args


def run_module(tmp_path, args, check=False, diff=False, verbosity=0, env=None, callback="json", module=MODULE):
    """Run the module in a one-task playbook on localhost; returns a PlaybookRun.

    With the json callback the module's result is parsed from the output; with any other
    callback (for -vvv inspection) ``result`` is None.
    """
    playbook = [{
        "name": "%s under test" % module.rsplit(".", 1)[-1],
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [{"name": "Run the module", module: args}],
    }]
    path = tmp_path / "playbook.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(path), "-i", "localhost,"]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    run_env = dict(os.environ)
    for name in ("AZURE_TENANT", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_CERTIFICATE_PATH", "AZURE_CERTIFICATE_PASSWORD"):
        run_env.pop(name, None)
    run_env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_ROOT,
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    run_env.update(env or {})
    completed = subprocess.run(command, capture_output=True, text=True, env=run_env, timeout=900, check=False)
    result = None
    if callback == "json":
        document = json.loads(completed.stdout[completed.stdout.index("{"):])
        result = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr, result)
