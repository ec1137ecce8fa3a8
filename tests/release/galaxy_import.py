"""`make release-check`: build the collection as it would be published and run galaxy-importer on it.

galaxy-importer is what Galaxy runs on an upload (ansible-doc, ansible-lint production profile,
changelog and execution-environment checks, ...). Its settings are in galaxy-importer.cfg beside
this file; it runs from its own venv (tests/release/importer-requirements.txt). Any WARNING or
ERROR it logs fails the check.

Usage: galaxy_import.py IMPORTER_VENV OUTPUT_DIR
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "utils"))

from stage_collection import stage_copy  # noqa: E402  pylint: disable=wrong-import-position,import-error


def build_tarball(out_dir: str) -> str:
    """Build from a copy of the files git knows about, as tests/release does."""
    collection = stage_copy(REPO, os.path.join(out_dir, "staged"))
    for old in glob.glob(os.path.join(out_dir, "*.tar.gz")):
        os.unlink(old)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "build",
                    "--output-path", out_dir, collection], check=True, stdout=subprocess.DEVNULL)
    (tarball,) = glob.glob(os.path.join(out_dir, "mimecast_mse-sync_engine-*.tar.gz"))
    return tarball


def import_findings(importer_venv: str, tarball: str, out_dir: str) -> tuple[int, list[str]]:
    """Run galaxy-importer; return its exit code and the lines it logged as WARNING or ERROR."""
    importer_bin = os.path.join(os.path.abspath(importer_venv), "bin")
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=os.path.join(HERE, "galaxy-importer.cfg"),
               PATH=importer_bin + os.pathsep + os.environ.get("PATH", ""))
    # The importer finds ansible-doc and ansible-lint on PATH, and writes importer_result.json into its cwd.
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    completed = subprocess.run([os.path.join(importer_bin, "python"), "-m", "galaxy_importer.main", tarball],
                               cwd=out_dir, env=env, capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    sys.stdout.write(output)
    findings = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    return completed.returncode, findings


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("importer_venv")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    out_dir = os.path.abspath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    tarball = build_tarball(out_dir)
    with tarfile.open(tarball) as archive:
        files = sum(1 for member in archive.getmembers() if member.isfile())
    print("built %s: %d bytes, %d files" % (os.path.relpath(tarball, REPO), os.path.getsize(tarball), files))
    returncode, findings = import_findings(args.importer_venv, tarball, out_dir)
    if returncode or findings:
        print("galaxy-importer: exit code %d, %d warning(s) or error(s)" % (returncode, len(findings)))
        return 1
    print("galaxy-importer: no warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
