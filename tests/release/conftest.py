"""Shared fixtures for the release checks: a clean copy of the collection and the tarball built from it.

Everything runs on a copy of the files git knows about (tracked and untracked, minus ignored), laid
out as ansible_collections/mimecast_mse/sync_engine, so local clutter (.venv, caches) never decides
what a test sees and the working tree is never written to.
"""
from __future__ import annotations

import glob
import os

import pytest

from release_helpers import REPO, run, tool  # pylint: disable=import-error
from stage_collection import stage_copy  # pylint: disable=import-error


@pytest.fixture(scope="session")
def staged_collection(tmp_path_factory) -> str:
    """The collection's files under <root>/ansible_collections/mimecast_mse/sync_engine."""
    return stage_copy(REPO, str(tmp_path_factory.mktemp("staged")))


@pytest.fixture(scope="session")
def built_tarball(staged_collection, tmp_path_factory) -> str:
    """The artifact `ansible-galaxy collection build` makes, as a maintainer would publish it."""
    out = str(tmp_path_factory.mktemp("dist"))
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", out, staged_collection])
    (tarball,) = glob.glob(os.path.join(out, "mimecast_mse-sync_engine-*.tar.gz"))
    return tarball
