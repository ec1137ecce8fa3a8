"""The built collection holds what users and ansible-builder need, and none of the development files."""
from __future__ import annotations

import glob
import os
import re
import tarfile

import pytest
import yaml

from release_helpers import REPO  # pylint: disable=import-error

# What ansible-builder, ansible-doc, the docsite and Galaxy read from an installed collection.
MUST_SHIP = [
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.txt",
    "meta/runtime.yml", "meta/execution-environment.yml", "changelogs/changelog.yaml", "changelogs/config.yaml",
    "docs/docsite/extra-docs.yml", "docs/docsite/links.yml", "docs/docsite/rst/guide_benchmarks.rst",
    "plugins/modules/o365_mailbox_fullaccess.py", "roles/service_account/meta/argument_specs.yml",
    "playbooks/configure_service_account.yml",
]
# Development only: the pytest harness needs the repository (conftest, utils, the emulator), the
# plot is linked from the benchmark guide, the rest is tooling.
MUST_NOT_SHIP_PREFIXES = ("tests/", ".ci/", ".github/", ".venv/", ".build/", ".emulator/", ".pytest_cache/", "docs/benchmarks.png",
                          "Makefile", "pytest.ini", ".gitignore", "changelogs/.plugin-cache.yaml")
# The tarball was 124 KB with the plot and tests/ (and two modules fewer); without them the
# three Exchange modules, their module_utils and docs came to about 125 KB, and 163 KB with the
# fourth (o365_app_access_info) and the OAuth modules' shared-tenant handling. The bound catches
# a test tree, a plot or a virtual environment slipping into the build, not growth of the code.
MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def shipped(built_tarball) -> list[str]:
    with tarfile.open(built_tarball) as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


def test_collection_ships_what_users_and_tools_read(shipped):
    missing = [path for path in MUST_SHIP if path not in shipped]
    assert not missing


def test_collection_ships_no_development_files(shipped):
    unwanted = [path for path in shipped if path.startswith(MUST_NOT_SHIP_PREFIXES)]
    assert not unwanted


def test_every_docsite_guide_ships(shipped):
    guides = sorted(os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, "docs", "docsite", "rst", "*.rst")))
    assert guides and all(guide in shipped for guide in guides)


def test_collection_is_small(built_tarball):
    assert os.path.getsize(built_tarball) < MAX_BYTES


def test_no_sanity_ignore_files():
    """galaxy-importer warns about every tests/sanity/ignore-*.txt, empty or not; sanity passes without them."""
    assert not glob.glob(os.path.join(REPO, "tests", "sanity", "ignore-*.txt"))


def test_every_ee_requirement_file_ships(shipped):
    with open(os.path.join(REPO, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        dependencies = yaml.safe_load(handle)["dependencies"]
    files = [dependencies[kind] for kind in ("python", "system") if kind in dependencies]
    assert files and all(name in shipped for name in files)


# Words the developers use among themselves that a user cannot look up: "seed" was their name for
# Mimecast's legacy guide ("Configuring the MSE service account for Office 365").
JARGON = re.compile(r"\bseed\b", re.IGNORECASE)


def test_nothing_that_ships_uses_internal_words(built_tarball):
    found = []
    with tarfile.open(built_tarball) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.endswith((".py", ".yml", ".yaml", ".md", ".rst", ".txt", ".ps1")):
                continue
            text = archive.extractfile(member).read().decode("utf-8", "replace")
            found += ["%s: %s" % (member.name, line.strip()) for line in text.splitlines() if JARGON.search(line)]
    assert not found
