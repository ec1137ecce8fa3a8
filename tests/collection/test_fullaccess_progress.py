"""The o365_mailbox_fullaccess action plugin: progress lines during a long run, the module's result unchanged,
check mode intact (ansible-playbook against the emulator)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from emulator.control import EmulatorProcess
from emulator.fixtures import SESSION_OPTIONS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked"), ANSIBLE_NOCOLOR="1",
           MSE_PROGRESS_INTERVAL="1")


@pytest.fixture(name="exo", scope="module")
def fixture_exo(tmp_path_factory):
    """An emulator of its own, slow enough (latency, a write budget) that a run takes several seconds."""
    options = dict(SESSION_OPTIONS)
    options["mailboxes"] = 600
    with EmulatorProcess(tmp_path_factory.mktemp("emulator"), **options) as process:
        yield process


def play(tmp_path, exo, check=False, **module_args):
    """Run the module through ansible-playbook; returns (registered result, output)."""
    info = exo.info
    args = {"user": info["service_account"], "tenant": info["tenant_domain"], "login_url": info["login_url"],
            "exchange_url": info["exchange_url"], "ca_path": info["ca_path"],
            "client_id": info["apps"]["secret"]["client_id"], "client_secret": info["apps"]["secret"]["client_secret"]}
    args.update(module_args)
    out = tmp_path / "result.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "grant", "mimecast_mse.sync_engine.o365_mailbox_fullaccess": args, "register": "granted",
                   "ignore_errors": True},
                  {"name": "keep", "ansible.builtin.copy": {"content": "{{ granted | to_json }}", "dest": str(out)},
                   "check_mode": False}]}]))
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable,
               str(playbook)] + (["--check"] if check else [])
    completed = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(out.read_text()), completed.stdout


def test_progress_is_shown_and_the_result_is_the_modules(tmp_path, exo):
    exo.control.reset()
    exo.control.config(latency_ms=40, write_rate=120, write_burst=20)
    check, output = play(tmp_path, exo, check=True)
    assert check["counts"]["changed"] == check["counts"]["selected"] > 500
    assert not [name for name in exo.control.stats()["by_cmdlet"] if name.startswith("Add-")]  # check mode wrote nothing
    result, output = play(tmp_path, exo)
    lines = [line for line in output.splitlines() if line.startswith("o365_mailbox_fullaccess: ")]
    assert len(lines) >= 2, output
    assert any("checked" in line and "429s" in line for line in lines), lines
    assert not result.get("failed"), result.get("msg")
    assert result["counts"]["changed"] == check["counts"]["selected"]
    # the module's own keys, without the async wrapper's bookkeeping
    assert not {"ansible_job_id", "results_file", "finished", "started"} & set(result)
    assert {"counts", "requests", "listing", "trustee", "changed_mailboxes", "failed_mailboxes", "msg"} <= set(result)
    again, _output = play(tmp_path, exo)
    assert again["changed"] is False and again["counts"]["changed"] == 0


def test_a_failing_run_reports_its_failure_through_the_plugin(tmp_path, exo):
    exo.control.reset()
    result, _output = play(tmp_path, exo, mailboxes=["nobody-here@contoso.com"])
    assert result["failed"] and "do not exist" in result["msg"] and "Traceback" not in result["msg"]
