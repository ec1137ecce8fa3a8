"""`make demo`: the tenant side of the job, end to end, against the Exchange Online emulator.

1. start the emulator with a seeded tenant (2,000 mailboxes of mixed types, a little
   latency, a throttling budget);
2. run playbooks/grant_fullaccess.yml: every mailbox gets FullAccess for the service account;
3. run it again: nothing to change, changed=0;
4. add three new mailboxes and run the onboarding form (just those three);
5. stop the emulator and summarise what each run cost.

The client secret reaches the module through AZURE_SECRET, as AWX's Azure credential
would pass it; it is never printed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from emulator.control import EmulatorProcess  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(REPO, "playbooks", "grant_fullaccess.yml")
EMULATOR = dict(mailboxes=2000, seed=7, latency_ms=20, latency_ms_max=60,
                read_rate=400, read_burst=100, write_rate=200, write_burst=50)


def run_playbook(title, extra_vars, env):
    """Run the playbook, echo its output, and return (changed count from the recap, seconds)."""
    print("\n=== %s ===" % title, flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra_vars, handle)
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK, "-e", "@" + handle.name]
    started = time.monotonic()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    os.unlink(handle.name)
    print(completed.stdout + completed.stderr, flush=True)
    if completed.returncode != 0:
        raise SystemExit("the playbook failed (exit %d)" % completed.returncode)
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", completed.stdout)
    return int(recap.group(1)) if recap else None, elapsed


def main():
    """Start, run three times, stop, summarise."""
    state_dir = os.path.join(REPO, ".emulator", "demo")
    print("Starting the Exchange Online emulator (%d mailboxes) ..." % EMULATOR["mailboxes"], flush=True)
    runs = []
    with EmulatorProcess(state_dir, **EMULATOR) as emulator:
        info = emulator.info
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "linked"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "AZURE_TENANT": info["tenant_domain"],
            "AZURE_CLIENT_ID": info["apps"]["secret"]["client_id"],
            "AZURE_SECRET": info["apps"]["secret"]["client_secret"],
        })
        extra_vars = {
            "mse_service_account_mailbox": info["service_account"],
            "mse_login_url": info["login_url"],
            "mse_exchange_url": info["exchange_url"],
            "mse_ca_path": info["ca_path"],
        }
        for title, more in (("First run: grant FullAccess on every mailbox", {}),
                            ("Second run: nothing should change", {})):
            emulator.control.reset_stats()
            changed, seconds = run_playbook(title, dict(extra_vars, **more), env)
            runs.append((title, changed, seconds, emulator.control.stats()))
        new = [record["PrimarySmtpAddress"] for record in emulator.control.add_mailboxes(count=3)]
        emulator.control.reset_stats()
        changed, seconds = run_playbook("Onboarding: three new users", dict(extra_vars, mse_onboard_mailboxes=new), env)
        runs.append(("Onboarding: three new users", changed, seconds, emulator.control.stats()))
    print("\nEmulator stopped.\n")
    print("%-48s %8s %8s %10s %10s %8s %6s" % ("run", "changed", "seconds", "http reqs", "cmdlets", "writes", "429s"))
    for title, changed, seconds, stats in runs:
        writes = sum(count for name, count in stats["by_cmdlet"].items() if name.startswith(("Add-", "Remove-")))
        cmdlets = sum(stats["by_cmdlet"].values())
        row = (title, changed, seconds, stats["requests_total"], cmdlets, writes, stats["throttled_total"])
        print("%-48s %8s %8.1f %10d %10d %8d %6d" % row)
    second = runs[1]
    if second[1] != 0:
        raise SystemExit("the second run reported changes: it should not")
    print("\nThe second run changed nothing (changed=0), as an idempotent job must.")


if __name__ == "__main__":
    main()
