"""The lowest versions this collection declares, installed and run.

Every floor in requirements.txt and the lower end of requires_ansible (meta/runtime.yml)
is what this run installs, so a floor that does not work fails `make test`:

    floors.py pins                  # the pins, one a line, for pip install -r
    floors.py lowest-core           # the lowest ansible-core requires_ansible allows
    floors.py run FLOORS_VENV      # start an emulator, run tests/floors/floors.yml with that venv's Ansible

The emulator runs in this (the test venv's) Python: it is test infrastructure and needs
newer libraries than the floors. The playbook runs the modules in the floors venv's Python.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from emulator.control import EmulatorControl, spawn, stop_state_dir  # noqa: E402  pylint: disable=wrong-import-position,import-error

REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(?P<extras>\[[^\]]*\])?\s*>=\s*(?P<floor>[0-9][^,;\s]*)")


def floors():
    """{project name: (extras, floor)} for every requirement of requirements.txt; each must declare a floor."""
    result = {}
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            match = REQUIREMENT.match(line)
            if not match:
                raise SystemExit("requirements.txt: %r declares no floor (>=): every requirement needs one" % line)
            result[match.group("name")] = (match.group("extras") or "", match.group("floor"))
    return result


def lowest_ansible_core():
    """The lower end of requires_ansible in meta/runtime.yml."""
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        declared = yaml.safe_load(handle)["requires_ansible"]
    match = re.search(r">=\s*([0-9.]+)", declared)
    if not match:
        raise SystemExit("meta/runtime.yml: requires_ansible %r has no lower end" % declared)
    return match.group(1)


def pins():
    """The requirement lines that install exactly the floors."""
    lines = ["%s%s==%s" % (name, extras, floor) for name, (extras, floor) in floors().items()]
    return lines + ["ansible-core==%s" % lowest_ansible_core()]


def run(venv):
    """Run the floors playbook with the floors venv's ansible-playbook against a fresh emulator."""
    expected = {name: floor for name, (_extras, floor) in floors().items()}
    expected["ansible-core"] = lowest_ansible_core()
    state_dir = tempfile.mkdtemp(prefix="floors-emulator-")
    try:
        _process, info = spawn(state_dir, {"mailboxes": 12, "seed": 15})
        # Mailboxes 0 and 1 are the service accounts: the trustee is never among its own targets.
        rows = EmulatorControl(info).mailboxes(offset=2, limit=3)["mailboxes"]
        extra = {"exo": info, "expected_versions": expected,
                 "test_mailboxes": [row["UserPrincipalName"] for row in rows]}
        vars_path = os.path.join(state_dir, "floors-vars.json")
        with open(vars_path, "w", encoding="utf-8") as handle:
            json.dump(extra, handle)
        command = [os.path.join(venv, "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", "@" + vars_path, os.path.join(REPO, "tests", "floors", "floors.yml")]
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=os.path.join(venv, "bin", "python"))
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        stop_state_dir(state_dir)


def main():
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pins")
    commands.add_parser("lowest-core")
    run_parser = commands.add_parser("run")
    run_parser.add_argument("venv")
    args = parser.parse_args()
    if args.command == "lowest-core":
        print(lowest_ansible_core())
        return 0
    if args.command == "pins":
        print("\n".join(pins()))
        return 0
    return run(os.path.abspath(args.venv))


if __name__ == "__main__":
    sys.exit(main())
