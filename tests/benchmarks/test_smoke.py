"""A small run of the benchmark (`make bench` runs the real one): every scenario converges and is measured."""
from __future__ import annotations

from benchmarks import run as bench  # pylint: disable=import-error

SMOKE = dict(latency_ms=0, latency_ms_max=5, read_rate=2000, read_burst=200, write_rate=1000, write_burst=100,
             max_concurrency=60, seed=3)


def test_bench_scenarios_converge_and_are_measured(tmp_path):
    rows = bench.bench_size(300, sample=5, state_dir=str(tmp_path), settings=SMOKE, onboarding_latency_ms=5)
    (listing,) = [row for row in rows if row.get("kind") == "listing"]
    # $select makes the listing much smaller than whole mailbox objects
    assert listing["select"]["megabytes"] * 10 < listing["full"]["megabytes"]
    rows = [row for row in rows if row.get("kind") != "listing"]
    by_name = {row["scenario"].split(" (")[0]: row for row in rows}
    first = by_name["module: first run"]
    assert first["changed"] == 299 and first["failed"] == 0
    assert first["by_cmdlet"]["Add-MailboxPermission"] >= 299
    assert by_name["module: re-run, nothing new"]["changed"] == 0
    assert "Add-MailboxPermission" not in by_name["module: re-run, nothing new"]["by_cmdlet"]
    catch_up = by_name["module: first run after the first run, state file"]
    assert catch_up["changed"] == 0 and "Get-MailboxPermission" not in catch_up["by_cmdlet"]
    onboarding = by_name["module: onboarding %d new, state file" % bench.ONBOARDING_NEW]
    assert onboarding["changed"] == bench.ONBOARDING_NEW and onboarding["listing"] == "incremental"
    assert onboarding["listed"] == bench.ONBOARDING_NEW
    assert onboarding["by_cmdlet"]["Get-MailboxPermission"] == bench.ONBOARDING_NEW
    assert by_name["module: revoke everywhere"]["changed"] == 299 + bench.ONBOARDING_NEW + 3
    assert all(0 <= row["throttled_share"] <= 1 for row in rows)
    assert all(row["rss_mb"] and row["rss_mb"] < 300 for row in rows if row["scenario"].startswith("module"))
    assert all(row["seconds"] > 0 and row["minimum"] > 0 for row in rows)
    bench.write_report(rows + [listing], 5, str(tmp_path / "bench.rst"), str(tmp_path / "bench.png"))
    # the guide's list-table: a row starts with the size, then the scenario
    report = (tmp_path / "bench.rst").read_text()
    assert "   * - 300\n     - module: first run" in report
    assert "Listing every mailbox, whole objects against $select" in report
    assert "The figures of issue 16 and their goals" in report
