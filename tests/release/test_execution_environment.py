"""An execution environment built from the collection gets what its modules need, and compiles nothing.

The Exchange Online modules and the NTLM or CredSSP winrm transports need only wheels. Kerberos
to Windows hosts (pywinrm[kerberos], which compiles pykerberos) is the user's addition to their
own execution environment, as tests/release/execution-environment-kerberos.yml and the README show.

`ansible-builder create` writes the build context without a container engine. Inside the container
the builder stage then runs the context's own introspect.py over the installed collections and
installs what it finds; here the same script runs over the collection installed from the tarball.
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import sys

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

from release_helpers import REPO, run, tool, tool_env  # pylint: disable=import-error

TARBALL_IN_CONTEXT = "mimecast_mse-sync_engine.tar.gz"
PLATFORMS = {
    "rpm": ["platform:rpm", "platform:redhat", "platform:fedora"],
    "dpkg": ["platform:dpkg", "platform:debian"],
}


def requirement_lines(path: str) -> list[str]:
    """Requirement lines of a pip requirements file, comments and blank lines dropped."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.split("#", 1)[0].strip() for line in handle]
    return [line for line in lines if line]


def collection_requirements() -> dict[str, Requirement]:
    """requirements.txt of the collection, by normalised project name."""
    reqs = [Requirement(line) for line in requirement_lines(os.path.join(REPO, "requirements.txt"))]
    return {canonical(req.name): req for req in reqs}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def build_context(definition, built_tarball, workdir):
    """`ansible-builder create` for one of the example definitions in tests/release; returns the context."""
    shutil.copy(os.path.join(REPO, "tests", "release", definition), workdir)
    shutil.copy(built_tarball, workdir / TARBALL_IN_CONTEXT)
    context = workdir / "context"
    run([tool("ansible-builder"), "create", "--file", str(workdir / definition),
         "--context", str(context), "--output-filename", "Containerfile"])
    return context


@pytest.fixture(scope="module")
def introspected(built_tarball, tmp_path_factory):
    """Create the EE build context, install the collection, and run the context's introspection."""
    workdir = tmp_path_factory.mktemp("ee")
    context = build_context("execution-environment.yml", built_tarball, workdir)
    collections = workdir / "collections"
    # --no-deps: ansible.windows and microsoft.ad come from Galaxy in a real build; Galaxy is not reachable here.
    # The test venv's ANSIBLE_COLLECTIONS_PATH already holds the collection (linked): without its own
    # path, ansible-galaxy would find it installed there and skip the tarball.
    run([tool("ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections),
         str(context / "_build" / "collections" / TARBALL_IN_CONTEXT)],
        env=tool_env(ANSIBLE_COLLECTIONS_PATH=str(collections)))
    pip_out, bindep_out = workdir / "pip.txt", workdir / "bindep.txt"
    run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(collections),
         "--write-pip", str(pip_out), "--write-bindep", str(bindep_out)])
    return {
        "context": context,
        "pip": pip_out.read_text(encoding="utf-8").splitlines(),
        # introspect.py writes no bindep file when no collection has system requirements.
        "bindep": bindep_out.read_text(encoding="utf-8").splitlines() if bindep_out.exists() else [],
    }


def test_build_context_installs_the_collection_from_the_tarball(introspected):
    context = introspected["context"]
    assert (context / "_build" / "collections" / TARBALL_IN_CONTEXT).is_file()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"] == [{"name": "/build/collections/" + TARBALL_IN_CONTEXT, "type": "file"}]
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect" in containerfile


def test_context_collects_every_python_requirement_of_the_collection(introspected):
    # introspect.py prefixes each line with the collection it came from: "msal>=1.29.0  # from collection ...".
    found = {}
    for line in introspected["pip"]:
        req = Requirement(line.split("#", 1)[0].strip())
        assert "mimecast_mse.sync_engine" in line
        found[canonical(req.name)] = req
    expected = collection_requirements()
    assert set(found) == set(expected)
    assert found["pywinrm"].extras == {"credssp"}
    for name in ("msal", "requests", "jmespath"):
        assert name in found


def test_an_exchange_only_execution_environment_compiles_nothing(introspected):
    """No pykerberos to build, so no compiler, headers or Kerberos packages in either stage."""
    for line in introspected["pip"]:
        assert "kerberos" not in line.split("#", 1)[0].lower(), line
    assert not [line for line in introspected["bindep"] if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_kerberos_example_builds_pykerberos_in_the_builder_stage_only(built_tarball, tmp_path, platform):
    """The README's Kerberos additions: compilers and headers in the builder stage, kinit in the final image."""
    context = build_context("execution-environment-kerberos.yml", built_tarball, tmp_path)
    pip_lines = requirement_lines(str(context / "_build" / "requirements.txt"))
    assert any(canonical(Requirement(line).name) == "pywinrm" and "kerberos" in Requirement(line).extras
               for line in pip_lines)
    depends = Depends((context / "_build" / "bindep.txt").read_text(encoding="utf-8"))
    profiles = PLATFORMS[platform]
    build = {rule[0] for rule in depends.active_rules(profiles + ["compile"])}
    final = {rule[0] for rule in depends.active_rules(profiles + ["default"])}
    headers = {"rpm": "krb5-devel", "dpkg": "libkrb5-dev"}[platform]
    python_headers = {"rpm": "python3-devel", "dpkg": "python3-dev"}[platform]
    kinit = {"rpm": "krb5-workstation", "dpkg": "krb5-user"}[platform]
    assert {"gcc", python_headers, headers} <= build
    assert kinit in final, "the winrm connection runs kinit for a Kerberos ticket"
    assert not {"gcc", python_headers, headers} & final, "compilers and headers stay out of the final image"


def test_the_readme_shows_the_kerberos_additions_of_the_example():
    """What a user copies from the README is what the example above builds."""
    with open(os.path.join(REPO, "tests", "release", "execution-environment-kerberos.yml"), encoding="utf-8") as handle:
        example = yaml.safe_load(handle)["dependencies"]
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for line in example["python"] + example["system"]:
        assert line in readme, line


def test_requested_pywinrm_extras_exist():
    """A misspelt extra is only a pip warning, and the transport would be missing at run time."""
    pywinrm = collection_requirements()["pywinrm"]
    offered = set(importlib.metadata.metadata("pywinrm").get_all("Provides-Extra"))
    assert pywinrm.extras and pywinrm.extras <= offered


def third_party_imports() -> set[str]:
    """Top-level modules imported by plugins/ that are neither stdlib nor ansible."""
    names = set()
    for dirpath, _dirnames, files in os.walk(os.path.join(REPO, "plugins")):
        for filename in (name for name in files if name.endswith(".py")):
            with open(os.path.join(dirpath, filename), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names
            and name not in ("ansible", "ansible_collections", "__future__")}


def test_every_third_party_import_of_the_plugins_is_a_requirement():
    providers = importlib.metadata.packages_distributions()
    listed = set(collection_requirements())
    missing = {name: providers.get(name) for name in third_party_imports()
               if not {canonical(dist) for dist in providers.get(name, [name])} & listed}
    assert not missing, "imported by plugins/ but not in requirements.txt: %s" % missing


def test_test_venv_pins_the_collection_requirements_without_compiling_kerberos():
    """`make venv` must work on a machine without krb5 headers, and still test what users install."""
    tests_requirements = requirement_lines(os.path.join(REPO, "tests", "requirements.txt"))
    assert not any(line.startswith(("-r", "--requirement")) for line in tests_requirements)
    pinned = {canonical(req.name): req for req in map(Requirement, tests_requirements)}
    assert not pinned["pywinrm"].extras & {"kerberos"}, "pykerberos compiles against the krb5 headers"
    for name, requirement in collection_requirements().items():
        assert name in pinned, "%s of requirements.txt is not pinned in tests/requirements.txt" % name
        (spec,) = pinned[name].specifier
        assert spec.operator == "==" and requirement.specifier.contains(spec.version), (name, str(spec))
