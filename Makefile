# The two commands of the README: `make run` and `make test`. Everything installs from uv.lock
# (the security scanner from deploy/scan/uv.lock, into .tools/scan).
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SCAN := $(TOOLS)/scan
# Every Kubernetes manifest (the kustomizations are rendered, not validated as resources).
MANIFESTS := $(filter-out %/kustomization.yaml,$(wildcard deploy/kubernetes/*/*.yaml))

.PHONY: run test install lint lint-deploy scan typecheck pytest bench bench-compare cluster clean

run: install
	$(BIN)/fdr-whatsapp demo

test: install lint typecheck pytest

install: $(VENV)/.installed

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fdr-whatsapp needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: the dependencies' bytecode written once here, as the image does
# (Dockerfile): where PYTHONDONTWRITEBYTECODE is set, every start compiled them again, which
# was three fifths of `serve`'s start-up (docs/deploy.md#start-up).
$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

# ruff (with the complexity gate) and the import contracts of pyproject.toml [tool.importlinter].
lint: install lint-deploy scan
	$(BIN)/ruff check src tests alembic bench
	$(BIN)/ruff format --check src tests alembic bench
	$(BIN)/lint-imports

# The Dockerfile and the manifests, offline: hadolint, the Kubernetes schemas (strict), and the
# kustomizations rendered when kubectl is there.
lint-deploy: install
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet $(MANIFESTS)
	@if command -v kubectl >/dev/null 2>&1; then \
		for k in migrate app; do kubectl kustomize deploy/kubernetes/$$k >/dev/null || exit 1; done; \
	else echo "kubectl not found: kustomizations not rendered"; fi

# checkov, offline (--skip-download). Two checks are skipped, why in docs/deploy.md
# ("Security scan"): CKV_K8S_43 (image by digest: set at deploy) and CKV_K8S_35 (secrets as
# files: the service reads its settings from the environment only).
scan: $(SCAN)/.installed
	$(SCAN)/bin/checkov --quiet --compact --skip-download --framework dockerfile -f Dockerfile
	$(SCAN)/bin/checkov --quiet --compact --skip-download --framework kubernetes \
		-d deploy/kubernetes --skip-check CKV_K8S_43,CKV_K8S_35

$(SCAN)/.installed: $(UV) deploy/scan/pyproject.toml deploy/scan/uv.lock
	UV_PROJECT_ENVIRONMENT=$(abspath $(SCAN)) $(UV) sync --frozen --project deploy/scan --python $(PYTHON)
	@touch $@

typecheck: install
	$(BIN)/mypy

# The browser tests drive Debian's chromium (Playwright's own download cannot work offline);
# installed here when missing (CI runs as root). No browser: the tests fail, never skip.
CHROMIUM := /usr/bin/chromium

# The suite mostly waits on processes and services: three workers (pytest-xdist); an idle
# worker takes tests from a busy one (worksteal), so a file of long subprocess tests is
# shared out. Each worker has its own database, SQLite files and emulator (session fixtures).
PYTEST_WORKERS ?= 3

pytest: install $(CHROMIUM)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Every section but compare, profile and statuses (python -m bench --help lists them).
bench: install
	$(BIN)/python -m bench

# The reference, before (BASELINE=dir of another src) and after, side by side: about half an
# hour on a quiet box, so not part of `make bench`.
bench-compare: install
	$(BIN)/python -m bench compare $(if $(BASELINE),--baseline $(BASELINE))

# Two serve (ports 8001, 8002) and two worker processes on MariaDB, Redis and a Pub/Sub
# emulator; Ctrl-C stops them. EVENTS=500 THROUGHPUT=40 to change what it delivers.
cluster: install
	$(BIN)/python -m bench.cluster --events $(or $(EVENTS),200) --throughput $(or $(THROUGHPUT),40)

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
