# mk/tools.mk — the template tool chain (included by the top-level Makefile: `include mk/tools.mk`).
#
# aws-sam-cli and checkov each get their own virtualenv under .tools/: both pin boto3, cfn-lint,
# pydantic, networkx ... at versions that conflict with each other and with the project's .venv.
# Every target is idempotent: a stamp file records success and is remade only when its inputs change,
# so `make test` can depend on these targets at no cost once they have run.
#
#   make tools          install both tool venvs (from scratch: see docs/deploy.md for measured times)
#   make lint-template  cfn-lint on template.yaml (+ examples/*.yaml) and `sam validate --lint`
#   make checkov        checkov on template.yaml (skips live in the template's Metadata, each with a reason)
#   make sam-build      `sam build` without Docker and without a local python3.13 (BuildMethod: makefile)
#   make artifact-sizes unzipped size of every built function and of the layer, cold import times
#   make clean-tools    remove .tools/ (the venvs and the stamps)

# Including this fragment must not change the including Makefile's default goal.
_TOOLS_MK_SAVED_GOAL := $(.DEFAULT_GOAL)

TOOLS_DIR     ?= .tools
TOOLS_PYTHON  ?= python3

# uv comes from the project's .venv (requirements/bootstrap.txt); set here too for `make -f mk/tools.mk`.
# It reads the system's CA store (the machine's proxy CA, as pip does through its cert setting).
UV            ?= .venv/bin/uv
export UV_NATIVE_TLS := 1

SAM_VENV      := $(TOOLS_DIR)/sam
CHECKOV_VENV  := $(TOOLS_DIR)/checkov
STAMPS        := $(TOOLS_DIR)/stamps

SAM           := $(SAM_VENV)/bin/sam
# cfn-lint: the one aws-sam-cli brings (the same one `sam validate --lint` runs), so both agree.
CFN_LINT      := $(SAM_VENV)/bin/cfn-lint
CHECKOV       := $(CHECKOV_VENV)/bin/checkov

# SAM CLI asks about telemetry on first run and sends usage data; neither is wanted in CI.
SAM_ENV       := SAM_CLI_TELEMETRY=0 SAM_CLI_CONTACT_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1}
SAM_BUILD_DIR ?= .aws-sam/build

TEMPLATE          := template.yaml
EXAMPLE_TEMPLATES := $(sort $(wildcard examples/*.yaml examples/*.yml examples/*/*.yaml examples/*/*.yml))
SAM_BUILD_INPUTS  := $(TEMPLATE) layers/portico/Makefile layers/portico/requirements.txt pyproject.toml \
                     $(wildcard functions/*/Makefile functions/*/app.py) \
                     $(shell find layers/portico/portico -name '*.py' 2>/dev/null)

.PHONY: tools tools-sam tools-checkov lint-template checkov sam-build artifact-sizes clean-tools

tools: tools-sam tools-checkov
tools-sam: $(SAM_VENV)/.installed
tools-checkov: $(CHECKOV_VENV)/.installed

# A venv is rebuilt from scratch when its lock changes (never upgraded in place); uv (from the project's
# .venv, itself locked) installs exactly the lock, hashes checked.
$(SAM_VENV)/.installed: requirements/tools-sam.txt $(STAMP)
	rm -rf $(SAM_VENV)
	$(TOOLS_PYTHON) -m venv $(SAM_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(SAM_VENV)/bin/python --require-hashes requirements/tools-sam.txt
	$(SAM_ENV) $(SAM) --version
	touch $@

$(CHECKOV_VENV)/.installed: requirements/tools-checkov.txt $(STAMP)
	rm -rf $(CHECKOV_VENV)
	$(TOOLS_PYTHON) -m venv $(CHECKOV_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(CHECKOV_VENV)/bin/python --require-hashes requirements/tools-checkov.txt
	$(CHECKOV) --version
	touch $@

lint-template: $(STAMPS)/lint-template
$(STAMPS)/lint-template: $(TEMPLATE) $(EXAMPLE_TEMPLATES) $(SAM_VENV)/.installed
	@mkdir -p $(STAMPS)
	$(CFN_LINT) --format parseable -- $(TEMPLATE) $(EXAMPLE_TEMPLATES)
	$(SAM_ENV) $(SAM) validate --lint --template-file $(TEMPLATE)
	touch $@

checkov: $(STAMPS)/checkov
$(STAMPS)/checkov: $(TEMPLATE) $(CHECKOV_VENV)/.installed
	@mkdir -p $(STAMPS)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation --file $(TEMPLATE)
	touch $@

# `sam build` runs the Makefile of each function and of the layer (BuildMethod: makefile): no Docker,
# no python3.13; the layer's dependencies are its lock's manylinux2014_aarch64 / cp313 wheels.
sam-build: $(STAMPS)/sam-build
$(STAMPS)/sam-build: $(SAM_BUILD_INPUTS) $(SAM_VENV)/.installed
	@mkdir -p $(STAMPS)
	$(SAM_ENV) $(SAM) build --template-file $(TEMPLATE) --build-dir $(SAM_BUILD_DIR)
	touch $@

# Cold import times need boto3 (the Lambda runtime has it): the project's .venv provides it here.
artifact-sizes: $(STAMPS)/sam-build
	$(or $(wildcard .venv/bin/python),$(TOOLS_PYTHON)) scripts/artifact_sizes.py --build-dir $(SAM_BUILD_DIR) --import-times

clean-tools:
	rm -rf $(TOOLS_DIR)

.DEFAULT_GOAL := $(_TOOLS_MK_SAVED_GOAL)
