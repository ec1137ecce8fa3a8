"""Point the live-tenant integration scenarios at the emulator through their real configuration path.

A maintainer with a Microsoft 365 tenant writes tests/integration/integration_config.yml
(see integration_config.yml.template). `make integration` writes the same file, in the
staged copy, for an emulator it starts here, so that path is exercised on every run:

    live_config.py start CONFIG_PATH STATE_DIR   # start an emulator, write CONFIG_PATH
    live_config.py stop STATE_DIR
"""
from __future__ import annotations

import argparse
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emulator.control import EmulatorControl, read_info, spawn, stop_state_dir  # noqa: E402  pylint: disable=wrong-import-position


def live_config(info):
    """The exo_live variables a maintainer would write, for this emulator."""
    app = info["apps"]["secret"]
    # Mailboxes 0 and 1 are the two service accounts (the trustee is never among its own targets).
    rows = EmulatorControl(info).mailboxes(offset=2, limit=3)["mailboxes"]
    return {"exo_live": {
        # The tenant GUID form, as a maintainer may well give it.
        "tenant": info["tenant_id"],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "login_url": info["login_url"],
        "exchange_url": info["exchange_url"],
        "ca_path": info["ca_path"],
        "trustee": info.get("service_account_custom") or info["service_account"],
        "test_mailboxes": [row["UserPrincipalName"] for row in rows],
    }}


def main():
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("config")
    start.add_argument("state_dir")
    stop = commands.add_parser("stop")
    stop.add_argument("state_dir")
    args = parser.parse_args()
    if args.command == "stop":
        stop_state_dir(args.state_dir)
        return 0
    stop_state_dir(args.state_dir)
    spawn(args.state_dir, {"mailboxes": 50, "seed": 7})
    with open(args.config, "w", encoding="utf-8") as handle:
        yaml.safe_dump(live_config(read_info(args.state_dir)), handle, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
