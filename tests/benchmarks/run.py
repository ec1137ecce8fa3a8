"""`make bench`: converge tenants of 1,000 / 10,000 / 100,000 mailboxes near the throttle limit.

For each size, against the Exchange Online emulator with realistic settings (per-request
latency 100-300 ms, per-tenant token buckets with writes budgeted tighter than reads, a
cap on concurrent requests), it measures:

* the baselines of tests/benchmarks/baselines.py (the legacy guide's pipeline and the
  Microsoft365DSC way), sequential, on a sample of mailboxes and extrapolated;
* the module (run as its own process, as Ansible runs it): first run, re-run with
  nothing new, onboarding run with 1 % new mailboxes with and without the state file,
  and a revoke run;

and writes the docsite guide docs/docsite/rst/guide_benchmarks.rst (table, machine, settings,
command) and the plot docs/benchmarks.png, which stays out of the built collection.
Usage: python tests/benchmarks/run.py [--sizes 1000,10000] [--sample 100]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator.client import EmulatorClient  # noqa: E402  pylint: disable=wrong-import-position
from emulator.control import EmulatorProcess  # noqa: E402  pylint: disable=wrong-import-position
from baselines import run_dsc, run_seed  # noqa: E402  pylint: disable=wrong-import-position,import-error

sys.path.insert(0, os.path.join(REPO, ".build", "linked"))
# pylint: disable-next=wrong-import-position,import-error
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import LISTING_PROPERTIES  # noqa: E402

MODULE = os.path.join(REPO, "plugins", "modules", "o365_mailbox_fullaccess.py")
COLLECTIONS_ROOT = os.path.join(REPO, ".build", "linked")
SETTINGS = dict(latency_ms=100, latency_ms_max=300, read_rate=500, read_burst=100, write_rate=250, write_burst=50,
                max_concurrency=60, seed=11)
ONBOARDING_LATENCY_MS = 150
ONBOARDING_NEW = 50  # new mailboxes of the onboarding-with-state-file row (the figure)
ANALYSIS_MARKER = "Reading the results"


# Runs the module as its own process and, at exit, writes the process's VmHWM (peak resident set, KiB).
# Not ru_maxrss from wait4: Linux carries the parent's high-water mark into a child across fork and
# exec, so a child of a large benchmark process "peaked" at the benchmark's own size.
PEAK_WRAPPER = """
import atexit, runpy, sys
module, args_file, peak_file = sys.argv[1:4]
def keep_peak():
    with open('/proc/self/status', encoding='ascii') as status:
        peak = [line.split()[1] for line in status if line.startswith('VmHWM:')]
    with open(peak_file, 'w', encoding='ascii') as out:
        out.write(peak[0] if peak else '0')
atexit.register(keep_peak)
sys.argv = [module, args_file]
runpy.run_path(module, run_name='__main__')
"""


def run_module_process(info, extra):
    """Run the module as Ansible would (its own process); returns (result, seconds, peak RSS in MB)."""
    args = {
        "user": info["service_account"], "tenant": info["tenant_domain"], "login_url": info["login_url"],
        "exchange_url": info["exchange_url"], "ca_path": info["ca_path"],
        "client_id": info["apps"]["secret"]["client_id"], "client_secret": info["apps"]["secret"]["client_secret"],
        "report_limit": 100,
    }
    args.update(extra)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
    peak_file = handle.name + ".peak"
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-c", PEAK_WRAPPER, MODULE, handle.name, peak_file], stdout=out,
                                   stderr=err, env=env)
        process.wait()
        elapsed = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    os.unlink(handle.name)
    try:
        with open(peak_file, encoding="ascii") as peak:
            peak_kib = int(peak.read() or 0)
        os.unlink(peak_file)
    except (OSError, ValueError):
        peak_kib = 0
    try:
        result = json.loads(stdout)
    except ValueError as exc:
        raise SystemExit("module output was not JSON: %s %s" % (stdout[-2000:], stderr[-2000:])) from exc
    return result, elapsed, round(peak_kib / 1024.0, 1) or None


def timed_module(emulator, label, extra, minimum):
    """One module scenario as a table row."""
    emulator.control.reset_stats()
    result, seconds, rss = run_module_process(emulator.info, extra)
    stats = emulator.control.stats()
    counts = result.get("counts", {})
    # The emulator's own count: every cmdlet call it answered (sub-requests and direct calls) and the 429s among them.
    calls = stats["sub_requests"] + stats["by_endpoint"].get("invoke", 0)
    row = {
        "scenario": label, "seconds": seconds, "minimum": minimum, "ratio": seconds / minimum if minimum else None,
        "by_cmdlet": stats["by_cmdlet"], "requests": stats["requests_total"], "throttled": stats["throttled_total"],
        "throttled_share": stats["throttled_total"] / calls if calls else 0.0,
        "module_throttled_share": result.get("requests", {}).get("throttled_share"),
        "listing": (result.get("listing") or {}).get("mode"),
        "rss_mb": rss, "changed": counts.get("changed"), "failed": counts.get("failed"),
        "selected": counts.get("selected"), "listed": counts.get("listed"),
        "failed_detail": result.get("failed_mailboxes", [])[:3], "msg": result.get("msg"),
    }
    print("  %-48s %8.1f s  min %7.1f s  ratio %5s  429s %6d (%.1f %%)  rss %s MB  %s listing, %s" % (
        label, seconds, minimum, "%.2f" % row["ratio"] if row["ratio"] else "-", row["throttled"],
        100 * row["throttled_share"], row["rss_mb"], row["listing"], result.get("msg")), flush=True)
    return row


def listing_cost(emulator, select):
    """Seconds, pages and bytes of one whole Get-Mailbox listing, with or without ``$select`` (pages are not kept)."""
    client = EmulatorClient(emulator.info)
    started, pages, size, url = time.monotonic(), 0, 0, None
    while True:
        response = client.invoke("Get-Mailbox", {"ResultSize": "Unlimited"}, url=url, page_size=1000, select=select)
        if response.status_code != 200:
            raise SystemExit("listing failed: %s %s" % (response.status_code, response.text[:500]))
        pages, size = pages + 1, size + len(response.content)
        url = response.json().get("@odata.nextLink")
        if not url:
            return {"seconds": time.monotonic() - started, "pages": pages, "megabytes": size / 1e6}


def listing_row(emulator, size):
    """What the module's $select saves on the listing, against asking for whole mailbox objects."""
    emulator.control.reset()
    full = listing_cost(emulator, None)
    selected = listing_cost(emulator, list(LISTING_PROPERTIES))
    row = {"kind": "listing", "size": size, "pages": full["pages"], "full": full, "select": selected}
    print("  listing: full objects %.1f MB in %.1f s; $select %.1f MB in %.1f s" % (
        full["megabytes"], full["seconds"], selected["megabytes"], selected["seconds"]), flush=True)
    return row


def throttle_minimum(reads, writes, settings=None):
    """Seconds the budget alone needs for this many reads and writes (buckets refill in parallel)."""
    settings = settings or SETTINGS
    return max(reads / settings["read_rate"], writes / settings["write_rate"])


def baseline_row(emulator, label, runner, size, sample, settings):
    """A baseline on ``sample`` mailboxes, extrapolated linearly to the tenant."""
    emulator.control.reset()
    emulator.control.config(**{k: settings[k] for k in ("latency_ms", "latency_ms_max")})
    started = time.monotonic()
    client, processed, failed = runner(emulator.info, emulator.info["service_account"], limit=sample)
    seconds = time.monotonic() - started
    stats = emulator.control.stats()
    # The baseline lists every mailbox (whole objects) once, then works on the sample: only the
    # per-mailbox part scales with the tenant. The listing's measured time is counted once.
    per_mailbox = max(seconds - client.listing_seconds, 0.0) / max(processed, 1)
    estimate = client.listing_seconds + per_mailbox * (size - 1)
    reads = size // 1000 + 1 + (size if label == "dsc" else 0)
    minimum = throttle_minimum(reads, size, settings)
    row = {"scenario": "baseline: %s (sample %d, extrapolated)" % (label, processed), "seconds": estimate,
           "minimum": minimum, "ratio": estimate / minimum, "by_cmdlet": dict(client.by_cmdlet),
           "requests": stats["requests_total"], "throttled": client.throttled,
           "throttled_share": client.throttled / max(sum(client.by_cmdlet.values()), 1), "rss_mb": None,
           "changed": None, "failed": failed, "selected": size - 1, "sample_seconds": seconds,
           "listing_seconds": client.listing_seconds}
    print("  %-48s %8.1f s (sample %d in %.1f s, listing %.1f s, extrapolated)  min %.1f s" % (
        label, estimate, processed, seconds, client.listing_seconds, minimum), flush=True)
    emulator.control.reset()
    return row


def bench_size(size, sample, state_dir, settings=None, onboarding_latency_ms=ONBOARDING_LATENCY_MS):
    """All scenarios for one tenant size."""
    settings = settings or SETTINGS
    print("\n== %d mailboxes ==" % size, flush=True)
    rows = []
    options = dict(settings, mailboxes=size)
    with EmulatorProcess(os.path.join(state_dir, "emulator-%d" % size), **options) as emulator:
        print("  emulator started in %.1f s" % emulator.info.get("startup_seconds", 0), flush=True)
        rows.append(baseline_row(emulator, "legacy guide", run_seed, size, sample, settings))
        rows.append(baseline_row(emulator, "dsc", run_dsc, size, sample, settings))
        rows.append(listing_row(emulator, size))
        n = size - 1  # every mailbox but the trustee's own
        pages = size // 1000 + 1
        state_file = os.path.join(state_dir, "state-%d.json" % size)
        if os.path.exists(state_file):
            os.unlink(state_file)
        rows.append(timed_module(emulator, "module: first run", {"state_file": state_file},
                                 throttle_minimum(pages + n, n, settings)))
        rows.append(timed_module(emulator, "module: re-run, nothing new", {}, throttle_minimum(pages + n, 0, settings)))
        # Onboarding with the state file happens hours after the first run: the service's clock moves on
        # (clock_skew). The first such run lists the first run's grants once more (they moved WhenChanged).
        emulator.control.config(clock_skew=2 * 3600)
        rows.append(timed_module(emulator, "module: first run after the first run, state file", {"state_file": state_file},
                                 throttle_minimum(pages, 0, settings)))
        emulator.control.config(clock_skew=4 * 3600, latency_ms=onboarding_latency_ms, latency_ms_max=onboarding_latency_ms)
        emulator.control.add_mailboxes(count=ONBOARDING_NEW)
        rows.append(timed_module(emulator, "module: onboarding %d new, state file (%d ms)" % (
            ONBOARDING_NEW, onboarding_latency_ms), {"state_file": state_file},
            throttle_minimum(1 + ONBOARDING_NEW, ONBOARDING_NEW, settings)))
        emulator.control.config(latency_ms=settings["latency_ms"], latency_ms_max=settings["latency_ms_max"])
        new = max(size // 100, 1)
        emulator.control.add_mailboxes(count=new)
        rows.append(timed_module(emulator, "module: onboarding 1% new, no state file", {},
                                 throttle_minimum(pages + n + ONBOARDING_NEW + new, new, settings)))
        rows.append(timed_module(emulator, "module: revoke everywhere", {"state": "absent"},
                                 throttle_minimum(pages + n + ONBOARDING_NEW + new, n + ONBOARDING_NEW + new, settings)))
    for row in rows:
        row["size"] = size
    return rows


def machine():
    """What this ran on."""
    cpus = os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory = "%.0f GiB" % (int(handle.readline().split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return "%s, %s CPUs, %s, Python %s" % (platform.platform(), cpus, memory, platform.python_version())


GUIDE_LABEL = ".. _ansible_collections.mimecast_mse.sync_engine.docsite.guide_benchmarks:"
# The numbers a reader compares come first; the cmdlet counts, the widest column, last.
TABLE_HEADER = ("mailboxes", "scenario", "wall time (s)", "throttle minimum (s)", "ratio", "429s", "429 share",
                "peak RSS (MB)", "listing", "changed", "failed", "requests (HTTP)", "by cmdlet")


def plot_url():
    """Where the plot is seen: in the repository, since the built collection leaves the PNG out (galaxy.yml)."""
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        repository = yaml.safe_load(handle)["repository"]
    return "%s/blob/main/docs/benchmarks.png" % repository.rstrip("/")


def cell_or_na(value, template="%s"):
    """A table cell: the value, or "n/a" where the scenario has none (baselines have no RSS or changed count).

    Not "-": alone in a list-table cell, RST reads it as a nested bullet list.
    """
    return "n/a" if value is None else template % value


def table_cells(row):
    """One row of the results table, as cell texts in TABLE_HEADER order."""
    cmdlets = ", ".join("%s %d" % (name, count) for name, count in sorted(row["by_cmdlet"].items()))
    return ["%d" % row["size"], row["scenario"], "%.1f" % row["seconds"], "%.1f" % row["minimum"],
            cell_or_na(row["ratio"] or None, "%.2f"), str(row["throttled"]),
            "%.1f %%" % (100 * row.get("throttled_share", 0.0)), cell_or_na(row["rss_mb"]),
            cell_or_na(row.get("listing")), cell_or_na(row["changed"]), cell_or_na(row["failed"]), str(row["requests"]),
            cmdlets]


def rst_list_table(rows):
    """The results as an RST list-table (each cell on its own line, so long cmdlet lists stay readable)."""
    lines = [".. list-table:: Wall time against the throttle-limited minimum", "   :header-rows: 1", ""]
    for cells in [list(TABLE_HEADER)] + [table_cells(row) for row in rows]:
        lines.append("   * - %s" % (cells[0] or "n/a"))
        lines.extend("     - %s" % (cell or "n/a") for cell in cells[1:])
    return lines


def report_rst(rows, sample):
    """The generated part of docs/docsite/rst/guide_benchmarks.rst: title, settings, table."""
    title = "Benchmark: converging a tenant near the throttle limit"
    return [
        GUIDE_LABEL, "", title, "=" * len(title), "",
        "Wall time of :ansplugin:`mimecast_mse.sync_engine.o365_mailbox_fullaccess#module` against two sequential "
        "baselines, on the Exchange Online emulator of the repository's tests. "
        "Reproduce with ``make bench`` (about half an hour; not part of ``make test``). The plot of these numbers, "
        "`docs/benchmarks.png <%s>`__, is in the repository." % plot_url(), "",
        "- machine: %s" % machine(),
        "- emulator settings: latency %d-%d ms per request, read budget %d/s (burst %d), write budget %d/s (burst %d), "
        "at most %d concurrent requests per tenant; onboarding-with-state-file row at a fixed %d ms"
        % (SETTINGS["latency_ms"], SETTINGS["latency_ms_max"], SETTINGS["read_rate"], SETTINGS["read_burst"],
           SETTINGS["write_rate"], SETTINGS["write_burst"], SETTINGS["max_concurrency"], ONBOARDING_LATENCY_MS),
        "- throttle-limited minimum: the fewest requests the job needs (listing pages + one permission read per "
        "mailbox checked, one write per change) divided by the budget of their class; reads and writes refill in "
        "parallel, so it is the larger of the two. Bursts are ignored.",
        "- baselines run sequentially on a sample of %d mailboxes and are extrapolated: their measured listing time "
        "(whole mailbox objects, every page) once, plus the per-mailbox time of the sample times the tenant size (a "
        "full sequential run of 100,000 mailboxes takes many hours)." % sample,
        "- 429 share: 429 answers per cmdlet call the emulator answered (sub-requests and direct calls, every attempt).",
        "- onboarding rows: the service's clock is moved two, then four hours on (the emulator's ``clock_skew``), as "
        "onboarding comes hours after the first run; the first run after the first run lists the first run's grants "
        "once more, because a grant moves a mailbox's ``WhenChanged`` (an assumption of the emulator).",
        "- peak RSS: VmHWM of the module's own process (run as Ansible runs it, one process per task), read at its "
        "exit. Earlier versions of this guide took ru_maxrss from wait4, which on Linux carries the benchmark "
        "process's own high-water mark into the child (fork, exec): every row of one size showed the same, "
        "inflated figure.", "",
    ] + goals_table([row for row in rows if row.get("kind") != "listing"]) + [""] \
        + rst_list_table([row for row in rows if row.get("kind") != "listing"]) + listing_table(rows)


def _find(rows, size, prefix):
    return next((row for row in rows if row["size"] == size and row["scenario"].startswith(prefix)), None)


def goal_rows(rows):
    """Issue 16's figures from this run, each with its goal: (figure, measured, goal, met or None)."""
    def measured(size, prefix, key, template):
        row = _find(rows, size, prefix)
        return (None, "not measured") if row is None or row.get(key) is None else (row[key], template % row[key])

    goals = []
    value, text = measured(100000, "module: onboarding %d new, state file" % ONBOARDING_NEW, "seconds", "%.1f s")
    goals.append(("onboarding, 100k tenant, %d new, state file, %d ms latency" % (ONBOARDING_NEW, ONBOARDING_LATENCY_MS),
                  text, "< 5 s", None if value is None else value < 5))
    for size in (100000, 10000):
        value, text = measured(size, "module: first run", "ratio", "%.2f")
        goals.append(("first run, ratio to the throttle-limited minimum, %dk" % (size // 1000), text, "<= 1.05",
                      None if value is None else value <= 1.05))
    value, text = measured(1000, "module: first run", "ratio", "%.2f")
    goals.append(("first run, 1k tenant (ratio)", text, "<= 1.3", None if value is None else value <= 1.3))
    value, text = measured(1000, "module: re-run, nothing new", "ratio", "%.2f")
    goals.append(("re-run without state file, 1k tenant (ratio)", text, "<= 1.3", None if value is None else value <= 1.3))
    peaks = [row["rss_mb"] for row in rows if row["size"] == 100000 and row.get("rss_mb")]
    goals.append(("peak RSS of the module process, 100k", "%.0f MB" % max(peaks) if peaks else "not measured", "< 150 MB",
                  max(peaks) < 150 if peaks else None))
    for size in sorted({row["size"] for row in rows}):
        value, text = measured(size, "module: first run", "throttled_share", "%.1f %%")
        goals.append(("share of calls answered 429, first run, %dk" % (size // 1000),
                      text if value is None else "%.1f %%" % (100 * value), "<= 5 %",
                      None if value is None else value <= 0.05))
    return goals


def goals_table(rows):
    """The issue's figures and goals, as an RST list-table."""
    lines = ["", ".. list-table:: The figures of issue 16 and their goals", "   :header-rows: 1", ""]
    for cells in [("figure", "measured", "goal", "met")] + [
            (figure, text, goal, {True: "yes", False: "no", None: "n/a"}[met]) for figure, text, goal, met in goal_rows(rows)]:
        lines.append("   * - %s" % cells[0])
        lines.extend("     - %s" % cell for cell in cells[1:])
    return lines


def listing_table(rows):
    """What ``$select`` saves: the module's listing against one of whole mailbox objects (~250 properties)."""
    listings = [row for row in rows if row.get("kind") == "listing"]
    if not listings:
        return []
    lines = ["", "Listing cost: the module lists mailboxes with ``InvokeCommand?$select=`` of the %d properties it "
             "needs (plus those ``query`` reads); whole Get-Mailbox objects carry about 250. The emulator sends pages "
             "at its transfer rate (an assumption, see its README) after the per-request latency above." % len(LISTING_PROPERTIES),
             "", ".. list-table:: Listing every mailbox, whole objects against $select", "   :header-rows: 1", ""]
    header = ["mailboxes", "pages", "whole objects (MB)", "whole objects (s)", "$select (MB)", "$select (s)",
              "smaller", "faster"]
    body = [["%d" % row["size"], "%d" % row["pages"], "%.1f" % row["full"]["megabytes"], "%.1f" % row["full"]["seconds"],
             "%.2f" % row["select"]["megabytes"], "%.1f" % row["select"]["seconds"],
             "%.0fx" % (row["full"]["megabytes"] / max(row["select"]["megabytes"], 1e-9)),
             "%.1fx" % (row["full"]["seconds"] / max(row["select"]["seconds"], 1e-9))] for row in listings]
    for cells in [header] + body:
        lines.append("   * - %s" % cells[0])
        lines.extend("     - %s" % cell for cell in cells[1:])
    return lines


def hand_written_notes(path_rst):
    """The reading of the results below the table, written by hand: it survives a re-run."""
    if not os.path.exists(path_rst):
        return ""
    with open(path_rst, encoding="utf-8") as handle:
        existing = handle.read()
    start = existing.find("\n" + ANALYSIS_MARKER)
    return existing[start:] if start >= 0 else ""


def write_report(rows, sample, path_rst, path_png):
    """The benchmark guide (RST, part of the docsite) and the plot."""
    notes = hand_written_notes(path_rst)
    with open(path_rst, "w", encoding="utf-8") as handle:
        handle.write("\n".join(report_rst(rows, sample)) + "\n" + notes)
    write_plot(rows, path_png)


def write_plot(rows, path_png):
    """Bar chart of wall times per scenario and size, with the throttle-limited minimum marked."""
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        print("matplotlib missing: no plot")
        return
    rows = [row for row in rows if row.get("kind") != "listing"]
    sizes = sorted({row["size"] for row in rows})
    scenarios = list(dict.fromkeys(row["scenario"].split(" (sample")[0] for row in rows))
    figure, axis = plt.subplots(figsize=(11, 5.5))
    width = 0.8 / len(sizes)
    for offset, size in enumerate(sizes):
        values = []
        minima = []
        for scenario in scenarios:
            match = [row for row in rows if row["size"] == size and row["scenario"].startswith(scenario)]
            values.append(match[0]["seconds"] if match else 0)
            minima.append(match[0]["minimum"] if match else 0)
        positions = [index + offset * width for index in range(len(scenarios))]
        axis.bar(positions, values, width, label="%d mailboxes" % size)
        axis.scatter(positions, minima, marker="_", s=200, color="black", zorder=3)
    axis.set_yscale("log")
    axis.set_ylabel("wall time, seconds (log); black bar = throttle-limited minimum")
    axis.set_xticks([index + width * (len(sizes) - 1) / 2 for index in range(len(scenarios))])
    axis.set_xticklabels([scenario.replace("module: ", "").replace("baseline: ", "baseline\n") for scenario in scenarios],
                         rotation=20, ha="right", fontsize=8)
    axis.legend()
    axis.set_title("o365_mailbox_fullaccess vs. sequential baselines (emulator, latency %d-%d ms)"
                   % (SETTINGS["latency_ms"], SETTINGS["latency_ms_max"]))
    figure.tight_layout()
    figure.savefig(path_png, dpi=110)


def main():
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--guide", default=os.path.join(REPO, "docs", "docsite", "rst", "guide_benchmarks.rst"))
    parser.add_argument("--plot", default=os.path.join(REPO, "docs", "benchmarks.png"))
    arguments = parser.parse_args()
    state_dir = os.path.join(REPO, ".emulator", "bench")
    os.makedirs(state_dir, exist_ok=True)
    rows = []
    for size in [int(value) for value in arguments.sizes.split(",")]:
        rows.extend(bench_size(size, arguments.sample, state_dir))
        write_report(rows, arguments.sample, arguments.guide, arguments.plot)
    print("\nwrote %s and %s" % (arguments.guide, arguments.plot))


if __name__ == "__main__":
    main()
