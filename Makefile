# squall's two entry points: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
# Cargo's build directory: reused when the caller sets CARGO_TARGET_DIR.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# The lean optimised profile of Cargo.toml: no LTO, parallel codegen (see README, Development).
PROFILE ?= ci
CARGO_TEST := cargo test --profile $(PROFILE) --workspace --exclude squall-python

.PHONY: demo test lint fmt build bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9.4,<2"
	touch $@

# LocalStack (S3 for the tests) in its own virtualenv, with the dependency versions it needs.
LOCALSTACK_VENV := $(CURDIR)/.venv-localstack
LOCALSTACK_PINS := tests/emulators/localstack-core-4.13.1-py311.constraints.txt

$(LOCALSTACK_VENV)/.installed: $(LOCALSTACK_PINS)
	$(PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet "localstack-core[runtime]==4.13.1" -c $(LOCALSTACK_PINS)
	touch $@

build: $(VENV)/.installed
	VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH maturin develop --quiet --profile $(PROFILE) --extras test > $(VENV)/build.log

demo: build
	$(PY) -m squall.demo

lint: build
	cargo fmt --all --check
	cargo clippy --profile $(PROFILE) --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest --mypy-config-file pyproject.toml squall._native

# pytest starts LocalStack on first use and stops it at the end (tests/conftest.py).
test: lint $(LOCALSTACK_VENV)/.installed
	$(CARGO_TEST)
	SQUALL_LOCALSTACK_PYTHON=$(LOCALSTACK_VENV)/bin/python $(PY) -m pytest tests

BENCH_VENV := $(CURDIR)/.venv-bench

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

# Peers live in their own virtualenv, so their dependencies never touch squall's.
bench: build $(BENCH_VENV)/.installed
	$(PY) bench/map_overhead.py --lithops-python $(BENCH_VENV)/bin/python
	$(PY) bench/scan_filter_write.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/sort_groupby.py --peer-python $(BENCH_VENV)/bin/python

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(LOCALSTACK_VENV) target

# Rewrites the code into the shape `make lint` checks.
fmt: $(VENV)/.installed
	cargo fmt --all
	$(VENV)/bin/ruff format --quiet python tests bench
	$(VENV)/bin/ruff check --fix --quiet python tests bench
