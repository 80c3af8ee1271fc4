# `make test` is the one command: it installs what the tests need (Debian packages, Go-built
# control plane, the venv), all idempotent and cached, then runs lint, unit and e2e tests.
# `make` alone lists every target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
KUBECTL ?= kubectl
IMG ?= irc:dev
OVERLAY ?= all
CONTROLLERS ?= *
ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help test test-unit test-e2e test-chaos lint demo demo-down bench run install uninstall deploy undeploy \
	docker-build kind-up manifests setup packages binaries venv clean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z0-9-]+:.*## /{printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: setup lint ## install what the tests need, then lint, unit and e2e tests
	$(PY) -m pytest tests e2e $(PYTEST_ARGS)

test-unit: venv ## the unit tests (tests/), no servers
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-e2e: setup ## the end-to-end tests (e2e/) against the test bed on 127.0.0.1
	$(PY) -m pytest e2e $(PYTEST_ARGS)

test-chaos: setup ## the fault-injection tests (e2e/chaos/) with more cycles than make test runs
	IRC_CHAOS_CYCLES=$(or $(CYCLES),5) $(PY) -m pytest e2e/chaos $(PYTEST_ARGS)

lint: venv ## ruff and mypy --strict
	$(VENV)/bin/ruff check irc tests e2e hack
	$(VENV)/bin/ruff format --check irc tests e2e hack
	$(VENV)/bin/mypy

demo: setup ## the whole product on the local test bed, then a summary (the bed stays up)
	hack/demo.sh --once

demo-down: venv ## stop the test bed `make demo` started and remove its state
	hack/testbed.sh down

bench: setup ## the benchmarks, written to docs/performance.md (BENCH_ARGS='--only NAME')
	hack/build-binaries.sh --bench >/dev/null
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) -m hack.bench $(BENCH_ARGS)

run: venv ## irc manager out of cluster on the current kubeconfig (CONTROLLERS='*', ARGS='...')
	$(VENV)/bin/irc manager --controllers='$(CONTROLLERS)' $(ARGS)

install: ## the CRDs into the current kubeconfig's cluster
	$(KUBECTL) apply --server-side -k manifests/crds

uninstall: ## remove the CRDs (and with them every irc object)
	$(KUBECTL) delete --ignore-not-found -k manifests/crds

deploy: ## CRDs, RBAC and the manager from manifests/overlays/$(OVERLAY), running $(IMG)
	@img='$(IMG)'; tag=$${img##*:}; name=$${img%:*}; \
	case "$$tag" in */*|"$$img") name=$$img; tag=latest;; esac; \
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	overlay=$$(realpath --relative-to="$$dir" manifests/overlays/$(OVERLAY)) && \
	printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' 'resources:' \
	  "- $$overlay" 'images:' '- name: irc' "  newName: $$name" \
	  "  newTag: $$tag" > "$$dir/kustomization.yaml" && \
	$(KUBECTL) apply --server-side -k "$$dir"

undeploy: ## remove what deploy applied
	$(KUBECTL) delete --ignore-not-found -k manifests/overlays/$(OVERLAY)

docker-build: ## the container image $(IMG): docker when a daemon answers, else buildah (hack/image.sh)
	IMG='$(IMG)' hack/image.sh

kind-up: ## a kind cluster with the CRDs (needs Docker and kind; not exercised here)
	kind create cluster --name irc
	$(MAKE) install

manifests: venv ## regenerate manifests/crds and each overlay's RBAC from the code
	$(VENV)/bin/irc crds --output-dir manifests/crds
	$(VENV)/bin/irc rbac --controllers='*,workload-rewrite' --output manifests/overlays/all/rbac.yaml
	$(VENV)/bin/irc rbac --controllers=policy,detection,creation --output manifests/overlays/detection/rbac.yaml
	$(VENV)/bin/irc rbac --controllers=image-backup,workload-rewrite --output manifests/overlays/backup/rbac.yaml

setup: packages binaries venv ## install Debian packages, Go-built binaries and the venv (cached)

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

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
