"""The changelog fragments lint, and the release notes antsibull-changelog would write are right.

The release is made on a copy (antsibull-changelog consumes the fragments and rewrites
changelogs/changelog.yaml), with a version after every released one.
"""
from __future__ import annotations

import os
import re

import pytest
import yaml

from release_helpers import REPO, collections_root, run, tool, tool_env  # pylint: disable=import-error
from stage_collection import stage_copy  # pylint: disable=import-error

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))
ROLES = sorted(os.listdir(os.path.join(REPO, "roles")))


def test_fragments_and_changelog_yaml_lint():
    run([tool("antsibull-changelog"), "lint"], cwd=REPO)
    run([tool("antsibull-changelog"), "lint-changelog-yaml", os.path.join("changelogs", "changelog.yaml")], cwd=REPO)


def sections(rst: str) -> dict[str, str]:
    """Body of each "Title\\n-----" section of the release notes, by title."""
    parts = re.split(r"^(.+)\n-+\n", rst, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


@pytest.fixture(scope="module")
def release_notes(tmp_path_factory) -> str:
    """CHANGELOG.rst of a release made from a copy of the repository."""
    collection = stage_copy(REPO, str(tmp_path_factory.mktemp("changelog")))
    with open(os.path.join(collection, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    run([tool("antsibull-changelog"), "release", "--version", version, "--date", "2026-12-01"], cwd=collection,
        env=tool_env(ANSIBLE_COLLECTIONS_PATH=collections_root(collection)))
    with open(os.path.join(collection, "CHANGELOG.rst"), encoding="utf-8") as handle:
        return handle.read()


def test_title_is_readable(release_notes):
    title = release_notes.splitlines()[1]
    assert title == "Mimecast MSE Sync Engine Release Notes"


def test_release_has_a_summary(release_notes):
    assert sections(release_notes)["Release Summary"].strip()


def test_new_modules_are_listed_once(release_notes):
    by_title = sections(release_notes)
    listed = re.findall(r"^- mimecast_mse\.sync_engine\.(\w+) - ", by_title["New Modules"], flags=re.M)
    assert listed == MODULES
    # Fragments describe changes; a new module's entry is generated from its documentation.
    for title in ("Major Changes", "Minor Changes"):
        for module in MODULES:
            assert not re.search(r"^- %s - new\b" % module, by_title.get(title, ""), flags=re.M), (title, module)


def test_new_roles_are_listed(release_notes):
    """antsibull-changelog finds a new role by version_added in meta/argument_specs.yml (entry point main)."""
    listed = re.findall(r"^- mimecast_mse\.sync_engine\.(\w+) - ", sections(release_notes).get("New Roles", ""),
                        flags=re.M)
    assert listed == ROLES


# Sections a first release cannot have: nothing was released before it to fix, break or remove.
NOT_IN_A_FIRST_RELEASE = ("Bugfixes", "Security Fixes", "Breaking Changes / Porting Guide", "Deprecated Features",
                          "Removed Features (previously deprecated)")


def first_release_pending():
    with open(os.path.join(REPO, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        return not (yaml.safe_load(handle).get("releases") or {})


@pytest.mark.skipif(not first_release_pending(), reason="a release was made: later releases have fixes")
def test_the_first_release_reads_as_one(release_notes):
    by_title = sections(release_notes)
    present = [title for title in NOT_IN_A_FIRST_RELEASE if title in by_title]
    assert not present, "fixes of code never released belong in the summary or nowhere: %s" % present


def test_the_summary_names_every_module_role_and_playbook(release_notes):
    summary = " ".join(sections(release_notes)["Release Summary"].split())
    playbooks = sorted(name for name in os.listdir(os.path.join(REPO, "playbooks")) if name.endswith(".yml"))
    for name in MODULES + ROLES + playbooks:
        assert name in summary, name
