"""The docsite sources lint, and the benchmark writes its guide as valid RST that keeps the hand-written reading.

The full Sphinx build is `make docs` (tests/release/build_docsite.py).
"""
from __future__ import annotations

import json
import os
import sys

import yaml
from antsibull_docs.rstcheck import check_rst_content
from docutils import nodes
from docutils.core import publish_doctree

from release_helpers import REPO, collections_root, run, tool, tool_env  # pylint: disable=import-error

sys.path.insert(0, os.path.join(REPO, "tests", "benchmarks"))

import run as bench  # noqa: E402  pylint: disable=wrong-import-position,import-error


def dependencies_root(tmp_path) -> str:
    """An ansible_collections tree with only the collections galaxy.yml depends on, linked from where Ansible has them."""
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        dependencies = sorted(yaml.safe_load(handle)["dependencies"])
    installed = json.loads(run([tool("ansible-galaxy"), "collection", "list", "--format", "json"]).stdout)
    found = {name: os.path.join(path, *name.split(".")) for path, collections in installed.items() for name in collections}
    for name in dependencies:
        namespace, collection = name.split(".")
        os.makedirs(tmp_path / "ansible_collections" / namespace, exist_ok=True)
        os.symlink(found[name], tmp_path / "ansible_collections" / namespace / collection)
    return str(tmp_path)


def test_collection_docs_lint(staged_collection, tmp_path):
    """Plugin and role docs render, extra docs have the right labels, and every reference resolves.

    References to other collections are checked against the collections it depends on: Ansible sees
    only those (not the whole `ansible` package of the test venv, which would take minutes to load).
    """
    path = collections_root(staged_collection) + os.pathsep + dependencies_root(tmp_path)
    run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
         "--validate-collection-refs", "all", "--disallow-unknown-collection-refs", staged_collection],
        env=tool_env(ANSIBLE_COLLECTIONS_PATH=path, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false"))


def test_docsite_lists_every_guide():
    with open(os.path.join(REPO, "docs", "docsite", "extra-docs.yml"), encoding="utf-8") as handle:
        index = yaml.safe_load(handle)
    listed = {entry if isinstance(entry, str) else entry["ref"] for section in index["sections"] for entry in section["toctree"]}
    assert {"guide_benchmarks", "guide_windows_host"} <= listed


ROW = dict(size=300, scenario="module: first run", seconds=2.5, minimum=1.2, ratio=2.08, requests=40,
           by_cmdlet={"Add-MailboxPermission": 299, "Get-Mailbox": 1}, throttled=3, rss_mb=41.0, changed=299, failed=0)
BASELINE = dict(ROW, scenario="baseline: seed (sample 5, extrapolated)", rss_mb=None, changed=None, by_cmdlet={})
NOTES = "Reading the results (run of 2026-01-01)\n---------------------------------------\n\nHand-written text.\n"


def test_benchmark_guide_is_valid_rst_and_keeps_the_reading(tmp_path):
    guide = tmp_path / "guide_benchmarks.rst"
    guide.write_text("old generated part\n\n" + NOTES, encoding="utf-8")
    bench.write_report([BASELINE, ROW], 5, str(guide), str(tmp_path / "plot.png"))
    text = guide.read_text(encoding="utf-8")
    assert text.startswith(".. _ansible_collections.mimecast_mse.sync_engine.docsite.guide_benchmarks:\n")
    assert "old generated part" not in text and text.endswith("\n" + NOTES)
    assert "   * - 300\n     - module: first run\n     - 2.5\n     - 1.2\n     - 2.08\n" in text
    assert "     - Add-MailboxPermission 299, Get-Mailbox 1\n" in text
    assert check_rst_content(text, filename="guide_benchmarks.rst", ignore_roles=["ansplugin"]) == []


def test_benchmark_table_cells_are_text():
    """A baseline has no RSS or changed count: its cell must read as text, not as an RST list."""
    table = publish_doctree("\n".join(bench.rst_list_table([BASELINE, ROW]))).next_node(nodes.table)
    entries = list(table.findall(nodes.entry))
    assert len(entries) == 3 * len(bench.TABLE_HEADER)
    assert not any(entry.next_node(nodes.bullet_list) for entry in entries)
    assert [entry.astext() for entry in entries[len(bench.TABLE_HEADER):][:11]] == [
        "300", "baseline: seed (sample 5, extrapolated)", "2.5", "1.2", "2.08", "3", "0.0 %", "n/a", "n/a", "n/a", "0"]


def test_committed_benchmark_guide_survives_a_rerun():
    """The committed guide has what write_report relies on: its label, the plot link, and the reading after the marker."""
    with open(os.path.join(REPO, "docs", "docsite", "rst", "guide_benchmarks.rst"), encoding="utf-8") as handle:
        text = handle.read()
    assert text.startswith(bench.GUIDE_LABEL + "\n")
    assert "\n" + bench.ANALYSIS_MARKER in text
    assert bench.plot_url() in text
