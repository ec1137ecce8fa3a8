"""Lay the repository out as ``ansible_collections/mimecast_mse/sync_engine``.

ansible-test insists on running from inside that path (it resolves symlinks), so
sanity gets a copy of the files git knows about (tracked and untracked, minus ignored),
in a git repository of its own.
ansible-playbook is happy with a symlink, which keeps tests on the live code.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

NAMESPACE, NAME = "mimecast_mse", "sync_engine"


def collection_files(repo: str) -> list[str]:
    """Return repository-relative paths of tracked and untracked, non-ignored files."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, check=True, capture_output=True,
    ).stdout.decode()
    return sorted({path for path in out.split("\0") if path and os.path.isfile(os.path.join(repo, path))})


def stage_copy(repo: str, root: str) -> str:
    """Copy the collection into ROOT/ansible_collections/NS/NAME, replacing any old copy."""
    dest = os.path.join(root, "ansible_collections", NAMESPACE, NAME)
    shutil.rmtree(dest, ignore_errors=True)
    for path in collection_files(repo):
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(repo, path), target)
    # ansible-test lists files with git from the nearest repository; without one of its
    # own the copy would be seen through the outer checkout, where .build/ is ignored.
    subprocess.run(["git", "init", "--quiet"], cwd=dest, check=True)
    subprocess.run(["git", "add", "--all"], cwd=dest, check=True)
    return dest


def stage_link(repo: str, root: str) -> str:
    """Point ROOT/ansible_collections/NS/NAME at the repository itself."""
    parent = os.path.join(root, "ansible_collections", NAMESPACE)
    os.makedirs(parent, exist_ok=True)
    dest = os.path.join(parent, NAME)
    if os.path.islink(dest) or os.path.exists(dest):
        if os.path.realpath(dest) == os.path.realpath(repo):
            return dest
        os.remove(dest)
    os.symlink(os.path.abspath(repo), dest)
    return dest


def main() -> None:
    """Command line: stage_collection.py copy|link ROOT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("copy", "link"))
    parser.add_argument("root")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dest = (stage_copy if args.mode == "copy" else stage_link)(repo, os.path.abspath(args.root))
    sys.stdout.write(dest + "\n")


if __name__ == "__main__":
    main()
