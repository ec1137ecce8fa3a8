"""Every module's documentation renders with ansible-doc, and its examples are valid YAML."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    fqcn = "mimecast_mse.sync_engine." + module
    completed = subprocess.run([ANSIBLE_DOC, "--json", fqcn], capture_output=True, text=True, check=False,
                               env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked")))
    assert completed.returncode == 0, completed.stderr
    doc = json.loads(completed.stdout)[fqcn]
    assert doc["doc"]["short_description"]
    assert doc["doc"]["options"]
    examples = yaml.safe_load(doc["examples"])
    assert examples and any(fqcn in task for task in examples)
    text = subprocess.run([ANSIBLE_DOC, fqcn], capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked")))
    assert text.returncode == 0 and "OPTIONS" in text.stdout, text.stderr
