"""python -m emulator start|stop|status|serve --state-dir DIR [options]"""
from __future__ import annotations

import argparse
import json
import sys

from .control import EmulatorControl, EmulatorError, read_info, spawn, stop_state_dir


def parser():
    """The command-line parser."""
    main = argparse.ArgumentParser(prog="python -m emulator", description="Exchange Online emulator")
    commands = main.add_subparsers(dest="command", required=True)
    for name, text in (("start", "start in the background and wait until ready"), ("serve", "run in the foreground"),
                       ("stop", "stop the emulator of a state dir"), ("status", "print the stats JSON")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-dir", required=True)
        if name in ("start", "serve"):
            sub.add_argument("--mailboxes", type=int, default=250)
            sub.add_argument("--seed", type=int, default=1)
            sub.add_argument("--port", type=int, default=0)
            sub.add_argument("--latency-ms", type=float, default=0.0)
            sub.add_argument("--latency-ms-max", type=float, default=0.0)
            sub.add_argument("--read-rate", type=float, default=0.0, help="read cmdlets per second (0 = unlimited)")
            sub.add_argument("--read-burst", type=float, default=0.0)
            sub.add_argument("--write-rate", type=float, default=0.0, help="write cmdlets per second (0 = unlimited)")
            sub.add_argument("--write-burst", type=float, default=0.0)
            sub.add_argument("--max-concurrency", type=int, default=0, help="outer requests in flight (0 = unlimited)")
            sub.add_argument("--token-lifetime", type=int, default=3599)
            sub.add_argument("--nextlink-ttl", type=float, default=300.0)
            sub.add_argument("--replication-delay", type=float, default=0.0)
            sub.add_argument("--granted-fraction", type=float, default=0.0)
            sub.add_argument("--granted-user", default=None)
            sub.add_argument("--transfer-rate", type=float, default=None,
                             help="answer bytes per second (default 12,500,000; 0 = off)")
            sub.add_argument("--existing-grant-answer", choices=("warning", "silent", "error"), default=None,
                             help="what Add-MailboxPermission answers for a grant that exists (default warning)")
            sub.add_argument("--retry-after-style", choices=("decimal", "integer"), default=None,
                             help="Retry-After of throttled calls (default decimal)")
            sub.add_argument("--clock-skew", type=float, default=None,
                             help="seconds the service's clock (Date header, WhenCreated/WhenChanged) is ahead")
        if name == "start":
            sub.add_argument("--timeout", type=float, default=120.0)
    return main


def main(argv=None):
    """Entry point."""
    args = parser().parse_args(argv)
    options = {key: value for key, value in vars(args).items() if key not in ("command", "state_dir", "timeout")}
    if args.command == "serve":
        from .server import serve  # pylint: disable=import-outside-toplevel
        return serve(args.state_dir, options)
    if args.command == "start":
        try:
            _process, info = spawn(args.state_dir, options, args.timeout)
        except EmulatorError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 1
        print(json.dumps({"base_url": info["base_url"], "pid": info["pid"], "startup_seconds": info["startup_seconds"],
                          "info": "%s/emulator.json" % info["state_dir"]}))
        return 0
    if args.command == "stop":
        stopped = stop_state_dir(args.state_dir)
        print("stopped" if stopped else "not running")
        return 0
    info = read_info(args.state_dir)
    if not info:
        print("not running (no emulator.json)", file=sys.stderr)
        return 1
    try:
        print(json.dumps(EmulatorControl(info).stats(), indent=2))
    except EmulatorError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("not running: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
