# The two commands a newcomer needs: `make up` (the demo) and `make test`.
# RUNTIME=auto picks compose when a Docker engine answers, native otherwise.

PYTHON ?= python3
VENV ?= .venv
RUNTIME ?= auto
BIN := $(VENV)/bin
EXTRAS := hub,api,native,singleuser,client,dev
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv up down ps logs test test-unit test-stack lint bench clean runtime \
	idp-validate idp-plan idp-apply

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

venv: $(BIN)/.installed  ## create .venv with everything the native runtime and tests need

# Which runtime `make up` uses; compose is the reference once it lands (issue 3).
runtime:
	@if [ "$(RUNTIME)" = "native" ]; then echo native; \
	elif [ "$(RUNTIME)" = "compose" ]; then echo compose; \
	elif [ "$(RUNTIME)" = "auto" ]; then \
	  if docker info >/dev/null 2>&1; then echo compose; else echo native; fi; \
	else echo "RUNTIME must be auto, native or compose (got $(RUNTIME))" >&2; exit 2; fi

up: venv  ## start the demo and print its URL and demo users
	@rt=$$($(MAKE) -s runtime) || exit 2; \
	if [ "$$rt" = "compose" ]; then \
	  if [ "$(RUNTIME)" = "compose" ]; then \
	    echo "The compose runtime is not available yet; run with RUNTIME=native." >&2; exit 2; fi; \
	  echo "A Docker engine answers, but the compose runtime is not available yet: using the native runtime."; \
	fi; \
	$(BIN)/native-runtime up

down: venv  ## stop the demo (state is kept in .state/)
	@$(BIN)/native-runtime down

ps: venv  ## show the demo's processes
	@$(BIN)/native-runtime status

logs: venv  ## print the last lines of every log
	@$(BIN)/native-runtime logs

# idp/ as code: realms from IDP_REALMS (default demo), Keycloak at KEYCLOAK_ADMIN_URL.
IDP_DIR ?= idp
idp-validate: venv  ## check idp/ files (no Keycloak needed)
	@$(BIN)/idpctl validate --idp-dir $(IDP_DIR)

idp-plan: venv  ## show what `make idp-apply` would change in Keycloak
	@$(BIN)/idpctl plan --idp-dir $(IDP_DIR)

idp-apply: venv  ## apply idp/ to the running Keycloak (idempotent)
	@$(BIN)/idpctl apply --idp-dir $(IDP_DIR)

lint: venv  ## ruff
	$(BIN)/ruff check src tests hub

test-unit: venv  ## unit tests only (no stack needed)
	$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

test-stack: up  ## integration and browser tests against the running stack
	$(BIN)/pytest tests/integration tests/e2e -q --screenshot=only-on-failure --output=test-results $(PYTEST_ARGS)

test: lint test-unit test-stack  ## everything: lint, unit, integration, e2e (starts the stack)

bench: up  ## token latency benchmark (a script, prints a table)
	$(BIN)/python -m tests.bench.bench_tokens $(BENCH_ARGS)

clean:  ## stop the demo and delete its state (users, fruits, secrets): asks first
	@if [ "$(CONFIRM)" != "yes" ]; then \
	  printf "Delete .state/ (Keycloak users, hub state, fruits, generated secrets)? [y/N] "; \
	  read answer; [ "$$answer" = "y" ] || { echo "Nothing deleted."; exit 1; }; fi
	-@[ -x $(BIN)/native-runtime ] && $(BIN)/native-runtime down
	rm -rf .state test-results
