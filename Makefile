# portico — `make demo` and `make test` do all the set-up on a fresh machine.
#
# Every package comes from a committed lock (exact versions, sha256 hashes), made by uv from the ranges in
# pyproject.toml and requirements/*.in: see "Locked installs" in the README. pip, setuptools and uv come from
# requirements/bootstrap.txt (installed by the venv's own pip with --require-hashes); uv then syncs the venv to
# requirements/dev.txt exactly, and the project itself installs apart (editable, --no-deps).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCKS := requirements/bootstrap.txt requirements/dev.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCKS) | sha1sum | cut -c1-12)

.PHONY: install demo test test-fast test-slow lint bench clean lock upgrade

include mk/tools.mk
include mk/lock.mk

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/bootstrap.txt
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes requirements/dev.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: install
	@bash scripts/demo.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Tools and the SAM build first (stamped), so the parallel test workers never race to make them.
# `make test` (CI) runs every test but the `slow` ones, which `make test-slow` runs: the crash-at-every-call,
# stateful and real-process race suites and the literal sam build/deploy/delete loop (README, "Tests").
# Three workers on two cores: a worker spends part of each test waiting on its emulator, a subprocess or a
# sleep, and a third keeps both cores busy (README, "The two commands": the measured times with 2, 3 and 4).
PYTEST_WORKERS ?= 3
test: install lint tools sam-build
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=15 -m "not slow"

test-slow: install tools sam-build
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15 -m slow

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not tools" -x

bench: install
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.bench_dataplane

clean:
	rm -rf $(VENV) .tools .aws-sam .portico .pytest_cache .ruff_cache .hypothesis
