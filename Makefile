# hyperpod.eks_lifecycle: build, lint and test.
# `make test` is what CI runs (through .ci/run); `make demo` provisions one look-alike node.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= /var/tmp/hyperpod-eks-lifecycle/venv
BUILD ?= /var/tmp/hyperpod-eks-lifecycle/build
COLLECTIONS := $(BUILD)/collections
COLL := $(COLLECTIONS)/ansible_collections/hyperpod/eks_lifecycle
ACT := source $(VENV)/bin/activate &&
ANSIBLE_TEST_PIP_VERSION ?= 23_1_2

.PHONY: help deps venv collection containerd-binaries sanity units
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## Install missing Debian packages (docker.io, debootstrap, shellcheck, ...) and start dockerd if none runs
	bash tests/tools/ensure-deps.sh >/dev/null

$(VENV)/.stamp: tests/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	cp tests/requirements.txt $@

venv: $(VENV)/.stamp ## Create the test tool virtualenv

# ansible-test insists on running from .../ansible_collections/<ns>/<name>: test a copy there.
collection: ## Copy the working tree to $(COLL) (for ansible-test and molecule)
	mkdir -p $(COLL)
	rsync -a --delete --delete-excluded --exclude .git --exclude tests/output --exclude /dist ./ $(COLL)/
	mkdir -p $(HOME)/.ansible/test/cache
	cp tests/tools/get_pip_offline.py $(HOME)/.ansible/test/cache/get_pip_$(ANSIBLE_TEST_PIP_VERSION).py

sanity: venv collection ## ansible-test sanity
	$(ACT) cd $(COLL) && ansible-test sanity --python 3.11 --color no

containerd-binaries: deps ## Unpack containerd 1.7 and 2.x from Debian's packages for the unit tests
	bash tests/tools/fetch-containerd.sh

.PHONY: toml-test-suite
toml-test-suite: venv ## Unpack toml-test's TOML 1.0 cases (from the pinned tomlkit sdist) for the unit tests
	PYTHON=$(VENV)/bin/python bash tests/tools/fetch-toml-test.sh

units: venv collection containerd-binaries toml-test-suite ## ansible-test units
	$(ACT) cd $(COLL) && ansible-test units --python 3.11 --color no

SCENARIOS ?= al2 al2023
MOLECULE_ENV := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ANSIBLE_GALAXY_SERVER=http://127.0.0.1:9/ \
	ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1 ANSIBLE_NOCOLOR=1

.PHONY: images molecule
images: deps ## Build the Amazon Linux look-alike node images
	bash tests/images/build.sh

molecule: venv collection images ## Run every molecule scenario (SCENARIOS="al2 al2023")
	$(ACT) cd $(COLL) && for s in $(SCENARIOS); do $(MOLECULE_ENV) molecule -c .config/molecule/config.yml test -s $$s || exit 1; done

.PHONY: bundle new-site lock demo lint bootstrap-tests bundle-tests fleet-tests bench bench-bootstrap bench-fleet test
bundle: venv ## Write dist/lifecycle/, the folder to upload to S3 (SITE=my-site to ship your site folder)
	$(ACT) SETTINGS=$(SETTINGS) SITE=$(SITE) bash tools/build_bundle.sh

new-site: ## Write a starting site folder (DIR=my-site): one example of each kind of step
	bash tools/new_site.sh $(DIR)

lock: venv ## Re-resolve the bundle's runtime into tools/runtime/*.txt (the only step that floats: review the diff, commit)
	$(ACT) bash tools/lock_runtime.sh

demo: deps venv images ## Build the bundle, provision a fresh offline AL2023 look-alike node with it, show the log and the result
	$(ACT) bash tests/demo.sh

bundle-tests: venv images ## The bundle end to end on bare, offline AL2 and AL2023 look-alikes (two files at a time)
	$(ACT) python -m pytest -v -p no:cacheprovider -n 2 --dist loadfile tests/bundle

bench: deps venv images ## Benchmark: the seed's script vs the collection's play on fresh AL2023 look-alikes (RUNS=5), one table
	$(ACT) bash bench/compare.sh $(or $(RUNS),5)

fleet-tests: venv images ## playbooks/fleet_apply.yml from this machine to look-alike nodes over the docker connection
	$(ACT) python -m pytest -v -p no:cacheprovider tests/fleet

bench-fleet: deps venv images ## Benchmark: a rollout's wall time from 1 to 8 nodes (FORKS=8)
	$(ACT) bash bench/fleet.sh $(or $(FORKS),8)

bench-bootstrap: deps venv images ## Benchmark: bootstrap time (runtime bring-up, playbook) vs pip install ansible-core
	$(ACT) bash bench/bootstrap.sh

SHELL_SCRIPTS := bootstrap/*.sh tools/*.sh bench/*.sh bench/seed/*.sh tests/*.sh tests/tools/*.sh tests/images/*.sh $(filter-out %.txt,$(wildcard tests/images/standins/*)) .ci/run
lint: deps venv collection changelog-lint docs-lint ## ansible-lint (production profile), shellcheck, role conventions, changelog, docs
	shellcheck $(SHELL_SCRIPTS)
	$(ACT) python -m pytest -q -p no:cacheprovider tests/meta
	$(ACT) cd $(COLL) && ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ansible-lint --strict

bootstrap-tests: venv ## The bootstrap's tests (stand-in ansible-playbook, install_wheels.py)
	$(ACT) python -m pytest -q -p no:cacheprovider tests/bootstrap

test: lint sanity units bootstrap-tests molecule bundle-tests fleet-tests ## Everything CI runs

# CHANGELOG.rst (antsibull-changelog, in the test venv) and the documentation site (antsibull-docs and
# Sphinx, in a venv of their own, from PyPI; the build itself is offline).
DOCS_VENV ?= /var/tmp/hyperpod-eks-lifecycle/docs-venv
DOCS_REQUIREMENTS := docs/docsite/sphinx/requirements.txt

$(DOCS_VENV)/.stamp: $(DOCS_REQUIREMENTS)
	rm -rf $(DOCS_VENV)
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install -q -r $(DOCS_REQUIREMENTS)
	cp $(DOCS_REQUIREMENTS) $@

.PHONY: docs-venv docs docs-lint changelog-lint
docs-venv: $(DOCS_VENV)/.stamp ## Create the docs build virtualenv (antsibull-docs, Sphinx)

docs: docs-venv collection ## Build the documentation site into $(BUILD)/docs/html (antsibull-docs, Sphinx)
	source $(DOCS_VENV)/bin/activate && bash tools/docs.sh site $(COLLECTIONS) $(BUILD)/docs

docs-lint: docs-venv collection ## antsibull-docs lint-collection-docs, the plugins' and roles' docs included
	source $(DOCS_VENV)/bin/activate && bash tools/docs.sh lint $(COLL)

changelog-lint: venv collection ## Lint the changelog fragments; CHANGELOG.rst up to date; the next release builds
	$(ACT) bash tools/docs.sh changelog $(COLL)
