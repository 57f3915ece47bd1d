# mk/lock.mk — the locks (included by the top-level Makefile).
#
#   make lock      remake every lock from its ranges, keeping each pinned version that still fits
#                  (after editing a range in pyproject.toml or requirements/*.in)
#   make upgrade   move every lock to the newest versions the ranges allow, then run the whole suite;
#                  commit the locks alone ("Upgrade: ...") once it is green
#   (tests/test_locks.py fails when a lock no longer matches its ranges or the .venv differs from its lock)
#
# requirements/dev.txt holds the bootstrap set too (pip, setuptools, uv), so the two locks agree on it.
# uv is the locking tool: it locks for another platform and Python (the layer: Lambda's arm64 / CPython 3.13)
# as well as for this one, with hashes, in the requirements format pip itself installs.

LOCK_FLAGS := --quiet --generate-hashes --no-header --universal --python-version 3.11
LAYER_LOCK_FLAGS := --quiet --generate-hashes --no-header --python-version 3.13 --python-platform aarch64-manylinux2014
LAYER_LOCK := layers/portico/requirements.txt
TOOL_LOCKS := requirements/tools-sam.txt requirements/tools-checkov.txt

define compile_locks
	$(UV) pip compile $(LOCK_FLAGS) $(1) pyproject.toml --extra dev requirements/bootstrap.in -o requirements/dev.txt
	$(UV) pip compile $(LOCK_FLAGS) -c requirements/dev.txt requirements/bootstrap.in -o requirements/bootstrap.txt
	$(UV) pip compile $(LOCK_FLAGS) $(1) requirements/tools-sam.in -o requirements/tools-sam.txt
	$(UV) pip compile $(LOCK_FLAGS) $(1) requirements/tools-checkov.in -o requirements/tools-checkov.txt
	$(UV) pip compile $(LAYER_LOCK_FLAGS) $(1) pyproject.toml -o $(LAYER_LOCK)
endef

lock: install
	$(call compile_locks,)

upgrade: install
	$(call compile_locks,--upgrade)
	$(MAKE) test
