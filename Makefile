# The two commands a researcher needs: `make run` and `make test`.
# Both create/refresh .venv from the pinned lock (requirements.lock) and do not reinstall on a second call.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
# Python's own bytecode cache (__pycache__/, git-ignored) even where the environment turns it off:
# otherwise every process of a run or of the tests compiles the project's modules again, and each
# test worker rewrites and compiles every test module (a collection: ~10.4 -> ~7 CPU-s).
unexport PYTHONDONTWRITEBYTECODE
export FSP_OUTPUT_DIR ?= $(CURDIR)/outputs
# The synthetic county is generated into its own folder only, and only when no FSP_INPUT_DIR is
# given: nothing ever writes under a council's input folder.
SYNTHETIC_DIR := $(CURDIR)/data/synthetic
ifeq ($(origin FSP_INPUT_DIR),undefined)
export FSP_INPUT_DIR := $(SYNTHETIC_DIR)
RUN_INPUT := synthetic
DEMO_KEY_FLAG := --demo-key
else
RUN_INPUT :=
DEMO_KEY_FLAG :=
endif
SEED ?= 20201101
# Extra arguments for `make run` (see `python -m assets.run --help`).
ARGS ?=
# Test processes of `make test` (pytest-xdist; a test file stays in one process, so its module
# fixtures are built once): one per core of a two-core machine.
TEST_WORKERS ?= 2

.PHONY: run test ui reference synthetic benchmarks system-deps lock clean

$(STAMP): pyproject.toml requirements.lock
	@echo "==> Installing the pinned environment into $(VENV) (first call only)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: assets/instance/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp assets/instance/dagster.yaml $@

# Debian packages the test suite drives: headless Chromium (report and UI tests), Chromium's print
# engine alone (chromium-headless-shell: every release the tests make prints report.pdf with it, in
# about half the CPU of chromium) and PostgreSQL (the cluster's run storage, started by its test).
# Installed only when missing and only where apt-get can run as root (as on CI).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "==> Installing Debian packages for the tests:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that need them will be skipped"; \
	  else echo "warning:$$missing missing and apt-get unavailable; tests that need them will be skipped"; fi; \
	fi

synthetic: $(STAMP)
	@$(BIN)/python -m evaluation.synthetic $(SYNTHETIC_DIR) --seed $(SEED) --if-missing

# With FSP_INPUT_DIR set: that folder is read, never written, and the demo key is never used.
run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml $(RUN_INPUT)
	@$(BIN)/python -m assets.run $(DEMO_KEY_FLAG) $(ARGS)

test: $(STAMP) system-deps
	@$(BIN)/python -m pytest -q -p no:cacheprovider --numprocesses $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	@umask 077 && $(BIN)/dagster dev -w workspace.yaml

# Regenerate the R reference fixtures (needs Debian r-base-core, r-cran-survival, r-cran-cmprsk, ...).
reference:
	@for script in tests/reference/*/make_reference.R; do \
	  echo "==> $$script"; Rscript "$$script" || exit 1; done

benchmarks: $(STAMP)
	@for script in benchmarks/*.py; do echo "==> $$script"; $(BIN)/python "$$script" || exit 1; done

# Re-pin the lock from the current environment (after a deliberate upgrade).
lock: $(STAMP)
	@$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(DAGSTER_HOME) data outputs/*.parquet outputs/figures outputs/report.html
