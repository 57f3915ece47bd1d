# portico — `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test test-fast lint bench clean

include mk/tools.mk

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: install
	@bash scripts/demo.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Tools and the SAM build first (stamped), so the parallel test workers never race to make them.
test: install lint tools sam-build
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" -x

bench: install
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.bench_dataplane

clean:
	rm -rf $(VENV) .tools .aws-sam .portico .pytest_cache .ruff_cache .hypothesis
