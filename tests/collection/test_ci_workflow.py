"""The CI workflow contributors see on a pull request runs what `make test` runs, on both ends of requires_ansible."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(REPO, ".github", "workflows", "ci.yml")
BIN = os.path.dirname(sys.executable)


def workflow():
    with open(WORKFLOW, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def makefile_targets(name):
    """The prerequisites of a Makefile target, and every target the Makefile defines."""
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as handle:
        text = handle.read()
    defined = set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))
    prerequisites = re.search(r"^%s:([^\n]*)" % re.escape(name), text, flags=re.M).group(1).split()
    return prerequisites, defined


def make_targets_run():
    """Every make target a job step runs, with matrix values filled in."""
    targets = set()
    for job in workflow()["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix", {})
        values = [entry["target"] for entry in matrix.get("include", [])] + list(matrix.get("target", []))
        for step in job["steps"]:
            run = step.get("run", "")
            for target in re.findall(r"\bmake ([\w${}. -]+)", run):
                target = target.strip()
                if target == "${{ matrix.target }}":
                    targets.update(values)
                else:
                    targets.update(target.split())
    return targets


def test_the_workflow_runs_every_part_of_make_test_and_only_make_targets():
    prerequisites, defined = makefile_targets("test")
    run = make_targets_run()
    assert run <= defined, "not make targets: %s" % (run - defined)
    assert set(prerequisites) <= run, "make test runs these, CI does not: %s" % (set(prerequisites) - run)


def test_sanity_units_and_integration_each_run_on_the_lowest_and_newest_ansible_core():
    jobs = workflow()["jobs"]
    for job in ("sanity", "units", "integration"):
        cores = " ".join(entry["ansible-core"] for entry in jobs[job]["strategy"]["matrix"]["include"])
        assert "lowest" in cores and "newest" in cores, job
    # The lowest targets are the ones that install the lowest ansible-core (tests/utils/floors.py).
    lowest = {entry["target"] for job in ("sanity", "units", "integration")
              for entry in jobs[job]["strategy"]["matrix"]["include"] if "lowest" in entry["ansible-core"]}
    assert lowest == {"sanity-lowest", "units-lowest", "floors"}


def test_the_workflow_matches_github_schema():
    subprocess.run([os.path.join(BIN, "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", WORKFLOW],
                   check=True)


def test_zizmor_finds_nothing():
    """Pinned actions, no persisted checkout credentials, read-only token, no template injection."""
    result = subprocess.run([os.path.join(BIN, "zizmor"), "--offline", "--no-progress", WORKFLOW],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("key", ["push", "pull_request", "schedule"])
def test_runs_on_pushes_pull_requests_and_daily(key):
    # PyYAML reads the key "on" as True.
    assert key in workflow()[True]
