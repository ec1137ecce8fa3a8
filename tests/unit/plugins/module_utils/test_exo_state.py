"""The state file of verified grants."""
from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_state import StateFileError, VerifiedGrants


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_records_age_out_and_survive_a_reload(tmp_path):
    path = str(tmp_path / "sub" / "state.json")
    clock = Clock()
    grants = VerifiedGrants(path, "Contoso.onmicrosoft.com", "Svc@contoso.com", max_age_seconds=3600, clock=clock)
    assert not grants.is_fresh("mbx-1")
    grants.record("mbx-1")
    grants.record("mbx-2")
    grants.forget("mbx-2")
    grants.save()
    again = VerifiedGrants(path, "contoso.onmicrosoft.com", "svc@contoso.com", max_age_seconds=3600, clock=clock)
    assert again.is_fresh("mbx-1") and not again.is_fresh("mbx-2")
    clock.now += 3600
    assert not again.is_fresh("mbx-1")


def test_tenants_and_trustees_are_kept_apart(tmp_path):
    path = str(tmp_path / "state.json")
    first = VerifiedGrants(path, "tenant-a", "svc@a.com", 3600)
    first.record("mbx-1")
    first.save()
    other = VerifiedGrants(path, "tenant-b", "svc@a.com", 3600)
    assert not other.is_fresh("mbx-1")
    other.record("mbx-9")
    other.save()
    document = json.loads((tmp_path / "state.json").read_text())
    assert set(document["grants"]) == {"tenant-a|svc@a.com", "tenant-b|svc@a.com"}


def test_unreadable_or_foreign_file_names_the_fix(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateFileError, match="delete it"):
        VerifiedGrants(str(path), "t", "u", 60)
    path.write_text(json.dumps({"something": "else"}))
    with pytest.raises(StateFileError, match="not a state file"):
        VerifiedGrants(str(path), "t", "u", 60)


def test_save_leaves_no_temporary_files(tmp_path):
    grants = VerifiedGrants(str(tmp_path / "state.json"), "t", "u", 60)
    grants.record("x")
    grants.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
