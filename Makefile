# Two commands for a newcomer: `make demo` and `make test`. Everything else they need
# (a virtual environment with pinned packages) they install themselves.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
BUILD := .build
LINKED := $(BUILD)/linked
STAGED_ROOT := $(BUILD)/staged
# ansible-test wants the collection at ansible_collections/<ns>/<name> and resolves
# symlinks, so units, integration and sanity run in a copy of the working tree.
STAGED := $(STAGED_ROOT)/ansible_collections/mimecast_mse/sync_engine
PYVER = $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
export ANSIBLE_COLLECTIONS_PATH := $(abspath $(LINKED))
export PYTHONPATH := $(abspath tests)

.PHONY: test demo bench pytest units integration live-test sanity lint venv collection staged clean release-check docs \
	floors units-lowest sanity-lowest

# pytest's summary line is repeated last, so the run ends with it.
# units and integration run on the newest ansible-core (the test venv's); units-lowest and
# floors on the lowest one requires_ansible allows.
test: pytest units integration sanity lint units-lowest floors
	@echo "make test: pytest, ansible-test units (newest and lowest ansible-core), integration, sanity, ansible-lint and the floors run passed"
	@tail -n 1 tests/output/pytest.log

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt tests/requirements.txt tests/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -c tests/constraints.txt
	@touch $@

collection: venv
	@$(BIN)/python tests/utils/stage_collection.py link $(LINKED) >/dev/null

pytest: collection
	@mkdir -p tests/output
	$(BIN)/python -m pytest | tee tests/output/pytest.log

# Offline, ansible-test also needs a local stand-in for the get-pip.py it would download
# (see tests/utils/get_pip.py).
staged: venv
	@pipver=$$($(BIN)/python tests/utils/ansible_test_pip_version.py) && \
	  mkdir -p $$HOME/.ansible/test/cache && \
	  cp tests/utils/get_pip.py $$HOME/.ansible/test/cache/get_pip_$$(echo $$pipver | tr . _).py
	@$(BIN)/python tests/utils/stage_collection.py copy $(STAGED_ROOT) >/dev/null

# Unit tests (tests/unit/plugins/...), as a contributor runs them: ansible-test units.
units: staged
	cd $(STAGED) && PATH=$(BIN):$$PATH ansible-test units --local --python $(PYVER) --color no

# The lowest ansible-core that meta/runtime.yml's requires_ansible allows, with the test
# venv's libraries except three: the resolvelib that ansible-core pins itself, the msal that
# azure.azcollection pins (AZURE_MSAL), as on a control node or execution environment shared
# with it, and the cryptography that msal allows: ansible-test units of that version. The Windows collections whose documentation
# the action plugin tests read are the test venv's (ansible package), reached through a .pth
# file, since the ansible package for that core is not needed.
AZURE_MSAL := 1.33.0
LOWEST_VENV := $(BUILD)/lowest-core-venv
LOWEST_BIN := $(abspath $(LOWEST_VENV))/bin

$(LOWEST_VENV)/.installed: $(VENV)/.installed meta/runtime.yml tests/utils/floors.py Makefile
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	core=$$($(BIN)/python tests/utils/floors.py lowest-core) && \
	  grep -v -E '^(ansible|ansible-core|ansible-lint|resolvelib|msal|cryptography)==' tests/constraints.txt > $(LOWEST_VENV)/constraints.txt && \
	  $(LOWEST_BIN)/pip install --quiet --disable-pip-version-check -c $(LOWEST_VENV)/constraints.txt \
	    "ansible-core==$$core" "msal==$(AZURE_MSAL)" requests urllib3 cryptography jmespath pywinrm PyJWT pytest pytest-xdist pytest-mock mock PyYAML
	mkdir -p $(LOWEST_VENV)/collections && \
	  ln -sfn $$($(BIN)/python -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))')/ansible_collections $(LOWEST_VENV)/collections/ansible_collections && \
	  echo $(abspath $(LOWEST_VENV))/collections > $$($(LOWEST_BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/test-venv-collections.pth
	@touch $@

units-lowest: staged $(LOWEST_VENV)/.installed
	cd $(STAGED) && PATH=$(LOWEST_BIN):$$PATH ansible-test units --local --python $(PYVER) --color no

sanity-lowest: staged $(LOWEST_VENV)/.installed
	@pipver=$$($(LOWEST_BIN)/python tests/utils/ansible_test_pip_version.py) && \
	  cp tests/utils/get_pip.py $$HOME/.ansible/test/cache/get_pip_$$(echo $$pipver | tr . _).py
	cd $(STAGED) && PATH=$(LOWEST_BIN):$$PATH ansible-test sanity --venv --python $(PYVER) --color no

# Every floor of requirements.txt and the lowest ansible-core, installed exactly, run against
# the emulator: secret, PEM and PFX sign-in, a grant, a re-run, a revoke (tests/floors/floors.yml).
FLOORS_VENV := $(BUILD)/floors-venv

$(FLOORS_VENV)/.installed: $(VENV)/.installed requirements.txt meta/runtime.yml tests/utils/floors.py
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(BIN)/python tests/utils/floors.py pins > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(FLOORS_VENV)/floors.txt
	@touch $@

floors: collection $(FLOORS_VENV)/.installed
	$(BIN)/python tests/utils/floors.py run $(FLOORS_VENV)

# Controller integration targets against the emulator each target starts on 127.0.0.1.
# The Windows targets need a Windows host (see README, Development).
# The live-tenant target reads tests/integration/integration_config.yml; here that file
# describes an emulator (tests/utils/live_config.py), so the maintainers' path is exercised.
integration: staged
	@$(BIN)/python tests/utils/live_config.py start $(STAGED)/tests/integration/integration_config.yml $(BUILD)/live-emulator
	cd $(STAGED) && PATH=$(BIN):$$PATH ansible-test integration --local --python $(PYVER) --color no; \
	  status=$$?; $(BIN)/python tests/utils/live_config.py stop $(abspath $(BUILD))/live-emulator; exit $$status

# The live-tenant scenarios against the tenant in tests/integration/integration_config.yml
# (copy it from integration_config.yml.template); never run by make test or CI.
live-test: staged
	@test -f tests/integration/integration_config.yml || \
	  { echo "copy tests/integration/integration_config.yml.template to tests/integration/integration_config.yml and fill it in"; exit 2; }
	cp tests/integration/integration_config.yml $(STAGED)/tests/integration/integration_config.yml
	cd $(STAGED) && PATH=$(BIN):$$PATH ansible-test integration --local --python $(PYVER) --color no o365_live_tenant

sanity: staged
	cd $(STAGED) && PATH=$(BIN):$$PATH ansible-test sanity --venv --python $(PYVER) --color no

lint: collection
	PATH=$(BIN):$$PATH ansible-lint --profile production

demo: collection
	$(BIN)/python tests/demo.py

bench: collection
	$(BIN)/pip install --quiet --disable-pip-version-check matplotlib==3.11.2
	$(BIN)/python tests/benchmarks/run.py

# Release checks, not part of `make test`: the tests/release pytest suite (changelog, tarball,
# execution environment, docs lint), then galaxy-importer on the built tarball, from its own venv.
IMPORTER_VENV := $(BUILD)/importer-venv

$(IMPORTER_VENV)/.installed: tests/release/importer-requirements.txt tests/release/importer-constraints.txt
	$(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/release/importer-requirements.txt -c tests/release/importer-constraints.txt
	@touch $@

release-check: collection $(IMPORTER_VENV)/.installed
	$(BIN)/python -m pytest tests/release -q
	$(BIN)/python tests/release/galaxy_import.py $(IMPORTER_VENV) $(BUILD)/release

# The collection's docsite (antsibull-docs + Sphinx) in .build/docsite/build/html.
docs: collection
	$(BIN)/python tests/release/build_docsite.py $(BUILD)/docsite

clean:
	rm -rf $(VENV) $(BUILD) tests/output .emulator
