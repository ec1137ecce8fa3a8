"""`make docs`: render the collection's docsite (plugins, role, guides) with antsibull-docs and Sphinx.

Usage: build_docsite.py DEST   (the site ends up in DEST/build/html)

The steps are those of the build.sh that `antsibull-docs sphinx-init` writes, with one difference:
Sphinx's intersphinx inventories (docs.python.org, docs.ansible.com) cannot be fetched offline, so
references into them -- ansible-core's pages and other collections' plugins -- stay unresolved.
Those warnings are counted, not fatal; every other warning fails the build (references to
other collections' plugins are checked by `antsibull-docs lint-collection-docs` in tests/release).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

COLLECTION = "mimecast_mse.sync_engine"
GUIDES = ("guide_benchmarks", "guide_windows_host")
OWN_LABELS = "ansible_collections.%s." % COLLECTION
# Labels of docs.ansible.com that antsibull-docs' plugin templates link to.
ANSIBLE_DOCSITE_LABELS = {"action_plugins", "common_return_values", "ansible_configuration_settings"}
UNDEFINED_LABEL = re.compile(r"WARNING: undefined label: '([^']+)'")
UNREACHABLE_INVENTORY = "failed to reach any of the inventories"
BIN = os.path.dirname(sys.executable)


def run(command: list[str], cwd: str) -> None:
    """Run one build step with the venv's commands first on PATH; show its output only if it fails."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if completed.returncode:
        sys.stdout.write(completed.stdout + completed.stderr)
        raise SystemExit("%s failed with exit code %d" % (command[0], completed.returncode))


def is_offline_only(warning: str) -> bool:
    """True for a warning that only says an outside inventory, or a label in it, could not be reached."""
    if UNREACHABLE_INVENTORY in warning:
        return True
    match = UNDEFINED_LABEL.search(warning)
    if not match:
        return False
    label = match.group(1)
    return label in ANSIBLE_DOCSITE_LABELS or (label.startswith("ansible_collections.") and not label.startswith(OWN_LABELS))


def sphinx_warnings(log: str) -> list[str]:
    """Each warning of Sphinx's warning file, with its continuation lines (the inventory URLs) folded in."""
    warnings: list[str] = []
    for line in log.splitlines():
        if "WARNING:" in line or "ERROR:" in line or not warnings:
            warnings.append(line)
        else:
            warnings[-1] += "\n" + line
    return [warning for warning in warnings if warning.strip()]


def build(dest: str) -> list[str]:
    """Write the Sphinx project, render the collection's RST into it, run Sphinx; return the warnings."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    run(["antsibull-docs", "sphinx-init", "--use-current", "--squash-hierarchy", "--fail-on-error",
         "--dest-dir", dest, "--project", COLLECTION, "--title", "Mimecast MSE Sync Engine",
         "--copyright", "%s contributors" % COLLECTION, COLLECTION], cwd=dest)
    os.chmod(os.path.join(dest, "rst"), 0o755)  # antsibull-docs wants the directory writable only by itself
    run(["antsibull-docs", "--config-file", "antsibull-docs.cfg", "collection", "--use-current", "--squash-hierarchy",
         "--fail-on-error", "--cleanup", "everything", "--dest-dir", "rst", COLLECTION], cwd=dest)
    warning_file = os.path.join(dest, "sphinx-warnings.log")
    run(["sphinx-build", "-M", "html", "rst", "build", "-c", ".", "--keep-going", "--quiet", "-w", warning_file],
        cwd=dest)
    with open(warning_file, encoding="utf-8") as handle:
        return sphinx_warnings(handle.read())


def missing_guides(dest: str) -> list[str]:
    """Guides that did not become a page linked from the site's index."""
    html = os.path.join(dest, "build", "html")
    with open(os.path.join(html, "index.html"), encoding="utf-8") as handle:
        index = handle.read()
    return [guide for guide in GUIDES
            if not os.path.isfile(os.path.join(html, "docsite", guide + ".html")) or "docsite/%s.html" % guide not in index]


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest")
    dest = os.path.abspath(parser.parse_args().dest)
    warnings = build(dest)
    offline = [warning for warning in warnings if is_offline_only(warning)]
    fatal = [warning for warning in warnings if not is_offline_only(warning)]
    missing = missing_guides(dest)
    for warning in fatal:
        print(warning)
    for guide in missing:
        print("guide %s is not in the site" % guide)
    print("docsite: %s (%d warnings about outside references left unresolved offline, %d other warnings)"
          % (os.path.join(dest, "build", "html", "index.html"), len(offline), len(fatal)))
    return 1 if fatal or missing else 0


if __name__ == "__main__":
    sys.exit(main())
