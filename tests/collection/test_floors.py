"""Declared is tested: the floors `make floors` installs are exactly those of requirements.txt and meta/runtime.yml."""
from __future__ import annotations

import os
import re

import yaml

import floors  # tests/utils, on pytest's pythonpath  # pylint: disable=import-error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pins_are_the_floors_of_requirements_txt_and_requires_ansible():
    pins = floors.pins()
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        declared = [line.split("#", 1)[0].strip() for line in handle]
    declared = [line for line in declared if line]
    assert len(pins) == len(declared) + 1
    for line, pin in zip(declared, pins):
        name, floor = re.match(r"([A-Za-z0-9._-]+(?:\[[^\]]*\])?)\s*>=\s*([^,;\s]+)", line).groups()
        assert pin == "%s==%s" % (name, floor)
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        lowest = re.search(r">=\s*([0-9.]+)", yaml.safe_load(handle)["requires_ansible"]).group(1)
    assert pins[-1] == "ansible-core==%s" % lowest


def test_the_module_docs_state_the_same_floors():
    """ansible-doc's requirements of the Exchange Online modules name the floors of requirements.txt."""
    from_requirements = {pin.split("==")[0].split("[")[0]: pin.split("==")[1] for pin in floors.pins()}
    with open(os.path.join(REPO, "plugins", "doc_fragments", "exo_auth.py"), encoding="utf-8") as handle:
        fragment = re.search(r"DOCUMENTATION = r'''(.*?)'''", handle.read(), flags=re.S).group(1)
    for requirement in yaml.safe_load(fragment)["requirements"]:
        name, floor = re.match(r"([\w.-]+) >= ([0-9.]+)$", requirement).groups()
        assert from_requirements[name] == floor, requirement
