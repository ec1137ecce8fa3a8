"""The state file of verified grants."""
from __future__ import annotations

import json
import os
import stat

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
    # the lock file stays (it must outlive the atomically replaced state file); no temporary file does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


def write_state(path, entries, key="t|u"):
    path.write_text(json.dumps({"version": 1, "grants": {key: entries}}))


def test_records_in_the_future_or_not_numbers_are_stale(tmp_path):
    path = tmp_path / "state.json"
    clock = Clock()
    write_state(path, {"future": clock.now + 86400, "nan": "NaN", "text": "1000000", "true": True, "ok": clock.now - 10,
                       "null": None, "list": [1], "huge": 1e308})
    grants = VerifiedGrants(str(path), "t", "u", 3600, clock=clock)
    assert [name for name in ("future", "nan", "text", "true", "ok", "null", "list", "huge") if grants.is_fresh(name)] == ["ok"]


def test_infinity_and_non_dict_entries_do_not_crash(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "grants": {"t|u": {"inf": Infinity}, "t|v": ["not", "a", "dict"]}}')
    assert not VerifiedGrants(str(path), "t", "u", 3600).is_fresh("inf")
    assert not VerifiedGrants(str(path), "t", "v", 3600).is_fresh("x")


def test_max_age_zero_ignores_every_record_and_keeps_only_what_this_run_verified(tmp_path):
    path = tmp_path / "state.json"
    clock = Clock()
    write_state(path, {"old": clock.now - 5})
    grants = VerifiedGrants(str(path), "t", "u", 0, clock=clock)
    assert not grants.is_fresh("old")
    grants.record("new")
    grants.save()
    assert json.loads(path.read_text())["grants"]["t|u"] == {"new": int(clock.now)}


def test_records_older_than_the_max_age_are_pruned_on_save(tmp_path):
    path = tmp_path / "state.json"
    clock = Clock()
    write_state(path, {"old": clock.now - 7200, "recent": clock.now - 60})
    grants = VerifiedGrants(str(path), "t", "u", 3600, clock=clock)
    grants.record("new")
    grants.save()
    assert set(json.loads(path.read_text())["grants"]["t|u"]) == {"recent", "new"}


def test_two_runs_sharing_a_file_merge_and_a_revoke_wins_over_an_earlier_verification(tmp_path):
    path = str(tmp_path / "state.json")
    clock = Clock()
    seed = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    seed.record("shared")
    seed.save()
    present = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    absent = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    clock.now += 5
    present.record("shared")   # a present run re-verifies it ...
    present.record("only-present")
    absent.forget("shared")    # ... while an absent run revokes it, in the same second
    absent.forget("never-recorded")
    absent.save()
    present.save()             # the last writer does not erase the other's work
    after = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    assert not after.is_fresh("shared")
    assert after.is_fresh("only-present")


def test_a_later_verification_wins_over_an_earlier_revoke(tmp_path):
    path = str(tmp_path / "state.json")
    clock = Clock()
    absent = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    absent.forget("x")
    absent.save()
    clock.now += 30
    present = VerifiedGrants(path, "t", "u", 3600, clock=clock)
    present.record("x")
    present.save()
    assert VerifiedGrants(path, "t", "u", 3600, clock=clock).is_fresh("x")


def test_a_symlinked_state_file_is_followed_not_replaced(tmp_path):
    real = tmp_path / "real" / "state.json"
    real.parent.mkdir()
    write_state(real, {})
    link = tmp_path / "state.json"
    link.symlink_to(real)
    grants = VerifiedGrants(str(link), "t", "u", 3600)
    grants.record("x")
    grants.save()
    assert link.is_symlink()
    assert "x" in json.loads(real.read_text())["grants"]["t|u"]


def test_a_symlink_to_nowhere_is_refused_and_nothing_is_created(tmp_path):
    # A planted link to a path that does not exist yet would make us create it (and its directories).
    target = tmp_path / "elsewhere" / "deep" / "planted.json"
    link = tmp_path / "state.json"
    link.symlink_to(target)
    with pytest.raises(StateFileError, match="symlink.*does not exist"):
        VerifiedGrants(str(link), "t", "u", 3600)
    assert not (tmp_path / "elsewhere").exists()


def test_the_lock_file_is_for_the_owner_only(tmp_path):
    path = tmp_path / "state.json"
    grants = VerifiedGrants(str(path), "t", "u", 3600)
    grants.record("x")
    old_umask = os.umask(0o022)
    try:
        grants.save()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(str(path) + ".lock").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_state_file_that_cannot_be_written_is_refused_before_any_change(tmp_path):
    # A directory that is a file cannot be written even by root (CI runs as root).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    grants = VerifiedGrants(str(blocker / "state.json"), "t", "u", 3600)
    with pytest.raises(StateFileError, match="cannot be written.*Nothing was changed"):
        grants.check_writable()


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    grants = VerifiedGrants(str(tmp_path / "state.json"), "t", "u", 3600)
    grants.record("x")

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(json, "dump", full_disk)
    with pytest.raises(StateFileError, match="No space left"):
        grants.save()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".state-")] == []


def test_long_runs_save_periodically(tmp_path):
    path = tmp_path / "state.json"
    ticks = Clock()
    grants = VerifiedGrants(str(path), "t", "u", 3600, monotonic=ticks)
    grants.record("x")
    grants.save_if_due()
    assert not path.exists()
    ticks.now += 61
    grants.save_if_due()
    assert "x" in json.loads(path.read_text())["grants"]["t|u"]


def test_listing_marks_merge_the_later_one_and_a_revoke_drops_those_before_it(tmp_path):
    path = str(tmp_path / "state.json")
    first = VerifiedGrants(path, "tenant", "svc@a.com", 3600)
    second = VerifiedGrants(path, "tenant", "svc@a.com", 3600)
    first.mark_listing("scope-1", since=1000.0, full=900.0)
    first.save()
    second.mark_listing("scope-1", since=800.0, full=950.0)  # a job sharing the file, started earlier
    second.mark_listing("scope-2", since=700.0, full=700.0)
    second.save()
    reloaded = VerifiedGrants(path, "tenant", "svc@a.com", 3600)
    assert reloaded.listing_mark("scope-1") == {"since": 1000.0, "full": 950.0}
    assert reloaded.listing_mark("scope-2") == {"since": 700.0, "full": 700.0}
    assert VerifiedGrants(path, "tenant", "other@a.com", 3600).listing_mark("scope-1") is None
    reloaded.revoke_listings(850.0)
    reloaded.save()
    late = VerifiedGrants(path, "tenant", "svc@a.com", 3600)
    assert late.listing_mark("scope-1") == {"since": 1000.0, "full": 950.0} and late.listing_mark("scope-2") is None
    # a run that started before the revoke cannot bring its mark back
    late.mark_listing("scope-2", since=800.0, full=800.0)
    late.save()
    assert VerifiedGrants(path, "tenant", "svc@a.com", 3600).listing_mark("scope-2") is None


@pytest.mark.parametrize("mark", [{"since": "1000", "full": 900}, {"since": -5, "full": 900}, {"since": 1e400, "full": 1},
                                  {"since": 1000}, "1000", None, {"since": True, "full": 900}])
def test_listing_marks_that_are_not_plain_times_are_ignored(tmp_path, mark):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "grants": {}, "listings": {"tenant|svc@a.com": {"scopes": {"s": mark}}}}))
    assert VerifiedGrants(str(path), "tenant", "svc@a.com", 3600).listing_mark("s") is None
