# `make test` is the one command: it installs what the tests need (Debian packages, Go-built
# control plane, the venv), all idempotent and cached, then runs lint, unit and e2e tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test test-unit test-e2e demo lint manifests setup packages binaries venv clean

test: setup lint
	$(PY) -m pytest tests e2e $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-e2e: setup
	$(PY) -m pytest e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check irc tests e2e hack
	$(VENV)/bin/ruff format --check irc tests e2e hack
	$(VENV)/bin/mypy

demo: setup
	hack/demo.sh

manifests: venv
	$(VENV)/bin/irc crds --output-dir manifests/crds
	$(VENV)/bin/irc rbac --controllers='*,workload-rewrite' --output manifests/overlays/all/rbac.yaml
	$(VENV)/bin/irc rbac --controllers=policy,detection,creation --output manifests/overlays/detection/rbac.yaml
	$(VENV)/bin/irc rbac --controllers=image-backup,workload-rewrite --output manifests/overlays/backup/rbac.yaml

setup: packages binaries venv

packages:
	hack/install-packages.sh

binaries:
	hack/build-binaries.sh >/dev/null

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
