# The two commands a newcomer needs: `make up` (the demo) and `make test`.
# RUNTIME=auto picks compose when a Docker engine answers, native otherwise.

PYTHON ?= python3
VENV ?= .venv
RUNTIME ?= auto
BIN := $(VENV)/bin
# compose: DockerSpawner, whose subclass (hubspawners.docker) the unit tests import.
EXTRAS := hub,compose,api,native,singleuser,client,laptop,dev,deploy
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv up down ps logs test test-unit test-fuzz test-stack test-compose lint bench clean \
	runtime idp-validate idp-plan idp-apply lint-playbooks deploy test-deploy test-security \
	test-chaos bench-load labextension test-swarm

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	sh images/pip/drop-slow-imports.sh $(BIN)/pip
	# An editable install has no data files: JupyterLab finds the prebuilt Tokens panel here.
	mkdir -p $(VENV)/share/jupyter/labextensions
	ln -sfn $(CURDIR)/src/userserver/labextension $(VENV)/share/jupyter/labextensions/hubtokens-panel
	touch $@

venv: $(BIN)/.installed  ## create .venv with everything the native runtime and tests need

# The Tokens panel (labextension/, TypeScript) built into src/userserver/labextension/, which is
# committed (pip install brings it prebuilt); npm's registry, pinned by package-lock.json.
labextension: venv  ## rebuild JupyterLab's Tokens panel after changing labextension/
	cd labextension && npm ci --no-audit --no-fund && npx tsc \
	  && PATH=$(abspath $(BIN)):$$PATH jupyter-builder build .

# Which runtime `make up` uses: compose where a Docker engine answers, native otherwise.
runtime:
	@if [ "$(RUNTIME)" = "native" ] || [ "$(RUNTIME)" = "compose" ]; then echo $(RUNTIME); \
	elif [ "$(RUNTIME)" = "auto" ]; then \
	  if docker info >/dev/null 2>&1; then echo compose; else echo native; fi; \
	else echo "RUNTIME must be auto, native or compose (got $(RUNTIME))" >&2; exit 2; fi

# The runtime `make up` started last (recorded in .state/runtime), else the one RUNTIME picks.
RUNTIME_FILE := .state/runtime
CURRENT = $$(cat $(RUNTIME_FILE) 2>/dev/null || $(MAKE) -s --no-print-directory runtime)

up: venv  ## start the demo and print its URL and demo users
	@rt=$$($(MAKE) -s --no-print-directory runtime) || exit 2; \
	old=$$(cat $(RUNTIME_FILE) 2>/dev/null || true); \
	if [ -n "$$old" ] && [ "$$old" != "$$rt" ]; then \
	  echo "Stopping the $$old runtime first (it uses the same ports)."; \
	  $(BIN)/$$old-runtime down || exit 1; fi; \
	mkdir -p .state && echo $$rt > $(RUNTIME_FILE) && $(BIN)/$$rt-runtime up

down: venv  ## stop the demo (users, hub state and fruits are kept)
	@$(BIN)/$(CURRENT)-runtime down

ps: venv  ## show the demo's processes or containers
	@$(BIN)/$(CURRENT)-runtime ps

logs: venv  ## print the last lines of every log
	@$(BIN)/$(CURRENT)-runtime logs

# Backups of the compose stack (docs/compose.md#backups): the Postgres databases, the fruits,
# every user's home and the secrets file, taken while it runs, into a new folder under
# BACKUP_DIR (default .state/backups). A restore checks the backup first, refuses to replace
# existing data without FORCE=yes, then replaces the volumes and starts the stack.
.PHONY: backup restore
backup: venv  ## back up the compose stack while it runs: make backup [BACKUP_DIR=folder]
	@$(BIN)/compose-runtime backup

restore: venv  ## restore a backup and start the stack: make restore BACKUP=folder [FORCE=yes]
	@[ -n "$(BACKUP)" ] || { echo "usage: make restore BACKUP=path/to/backup-folder [FORCE=yes]" >&2; exit 2; }
	@if [ "$(CURRENT)" = native ]; then \
	  echo "Stopping the native runtime first (it uses the same ports)."; \
	  $(BIN)/native-runtime down || exit 1; fi
	@$(BIN)/compose-runtime restore "$(BACKUP)" $(if $(filter yes,$(FORCE)),--force) \
	  && mkdir -p .state && echo compose > $(RUNTIME_FILE)

# idp/ as code: realms from IDP_REALMS (default demo). Native: idpctl on this machine;
# compose: the same idpctl in the hub image, on the stack's network (idp/ is mounted).
IDP_DIR ?= idp
idp-validate: venv  ## check idp/ files (no Keycloak needed)
	@$(BIN)/idpctl validate --idp-dir $(IDP_DIR)

idp-plan: venv  ## show what `make idp-apply` would change in Keycloak
	@if [ "$(CURRENT)" = compose ]; then $(BIN)/compose-runtime idp-plan; \
	else $(BIN)/idpctl plan --idp-dir $(IDP_DIR); fi

idp-apply: venv  ## apply idp/ to the running Keycloak (idempotent)
	@if [ "$(CURRENT)" = compose ]; then $(BIN)/compose-runtime idp-apply; \
	else $(BIN)/idpctl apply --idp-dir $(IDP_DIR); fi

lint: venv  ## ruff, and the import contracts between our packages (import-linter)
	$(BIN)/ruff check src tests hub images
	$(BIN)/lint-imports importlinter.ini

# One pytest run per stack; markers choose the suites (tests/conftest.py says why they run
# apart). The unit suite needs no stack and runs first, so that a broken unit fails in seconds
# instead of after the stack has started.
PYTEST := $(BIN)/pytest tests -q --durations=15 --screenshot=only-on-failure --output=test-results

test-unit: venv  ## unit tests only (no stack needed)
	$(BIN)/pytest tests -q -m unit $(PYTEST_ARGS)

test-fuzz: venv  ## fuzzing (hypothesis, schemathesis) of our code, bounded budgets (no stack needed)
	$(BIN)/pytest tests -q -m fuzz $(PYTEST_ARGS)

# The suites test-stack runs on the native stack. CI leaves out the browser tests marked
# runtime_neutral (the same code in every runtime), which its compose run covers.
STACK_TESTS ?= integration or e2e
test-stack: venv  ## integration and browser tests against the native stack
	$(MAKE) up RUNTIME=native
	$(PYTEST) -m "$(STACK_TESTS)" $(PYTEST_ARGS)

test-checks: test-unit lint test-fuzz lint-playbooks  ## lint, unit and fuzz: what needs no stack

# Under `make test` the stack tests wait for the checks (the unit suite first, so that a broken
# unit fails in seconds). `make -j2 --output-sync=target test` (CI) runs the checks two at a
# time, each of them on one CPU, each one's output printed whole when it ends.
ifneq ($(filter test,$(MAKECMDGOALS)),)
test-stack: test-checks
endif
# The checks named one by one (test-checks is the same list): CI's `make test` runs them all.
test: test-unit lint test-fuzz lint-playbooks test-stack  ## lint, unit, fuzz, integration, e2e (starts the stack)

lint-playbooks: venv  ## ansible-lint (production profile) and --syntax-check of playbooks/
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-lint -c playbooks/.ansible-lint --profile production playbooks/
	ANSIBLE_CONFIG=playbooks/ansible.cfg $(BIN)/ansible-playbook -i playbooks/inventory.example.yml playbooks/site.yml --syntax-check

deploy: venv  ## deploy with Ansible: make deploy INVENTORY=path/to/inventory.yml [ARGS="--check --diff"]
	@[ -n "$(INVENTORY)" ] || { echo "usage: make deploy INVENTORY=path/to/inventory.yml" >&2; exit 2; }
	ANSIBLE_CONFIG=playbooks/ansible.cfg $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml $(ARGS)

test-deploy: venv  ## the playbooks end to end on this machine (HTTPS :8443), cleaned up after
	VENV=$(VENV) bash playbooks/tests/run.sh

test-compose: venv  ## the browser suite, container checks and attacks against the compose stack
	$(MAKE) up RUNTIME=compose
	$(PYTEST) -m "e2e or compose or security" $(PYTEST_ARGS)

# Last on the compose stack: it kills parts of it (they come back by themselves).
test-chaos: venv  ## faults under load (20 users), a killed idpctl apply, backup/restore (compose)
	$(MAKE) up RUNTIME=compose
	$(PYTEST) -m chaos $(PYTEST_ARGS)

# The swarm runtime on three engines on this machine (root: network namespaces, extra
# dockerds; tests/swarm/nodes.py), formed and deployed by the Ansible play playbooks/swarm.yml
# (run twice: the second run must change nothing); everything removed after.
test-swarm: venv  ## the swarm runtime on 3 engine nodes made here: placement, drain, Keycloak failover
	$(MAKE) down  # the other runtimes use the same ports
	$(BIN)/python -m tests.swarm.nodes up
	@status=0; $(BIN)/python -m tests.swarm.nodes deploy && $(PYTEST) -m swarm $(PYTEST_ARGS) \
	  || status=$$?; \
	  [ $$status -eq 0 ] || $(BIN)/swarm-runtime ps; \
	  $(BIN)/swarm-runtime clean; $(BIN)/python -m tests.swarm.nodes down; exit $$status

test-security: venv  ## only the attacks (tests/security) against the compose stack
	$(MAKE) up RUNTIME=compose
	$(PYTEST) -m security $(PYTEST_ARGS)

# docs/performance.md: the token table (native only: it calls the broker as a server does),
# then login to kernel in Chromium (either runtime).
bench: up  ## token latency table (native) and login to kernel: make bench [RUNTIME=native]
	@rt=$(CURRENT); if [ "$$rt" = native ]; then \
	  $(BIN)/python -m tests.bench.bench_tokens $(BENCH_ARGS) || exit $$?; \
	else echo "(the token table needs the native runtime: make bench RUNTIME=native)"; fi
	$(BIN)/python -m tests.bench.bench_login $(BENCH_LOGIN_ARGS)

# native: the stack with stand-in servers (HUB_SPAWNER=standin, docs/performance.md), the
# benchmark, then the stack as `make up RUNTIME=native` leaves it (real servers) again.
# compose: the compose stack as `make up` leaves it, real user containers.
bench-load: venv  ## users minting at once: steady, herd, cold start: make bench-load [RUNTIME=compose]
	@if [ "$(RUNTIME)" = "compose" ]; then \
	  $(MAKE) up RUNTIME=compose && $(BIN)/python -m tests.bench.bench_load $(BENCH_LOAD_ARGS); \
	else \
	  HUB_SPAWNER=standin $(MAKE) up RUNTIME=native || exit $$?; \
	  $(BIN)/python -m tests.bench.bench_load $(BENCH_LOAD_ARGS); rc=$$?; \
	  $(MAKE) up RUNTIME=native; exit $$rc; \
	fi

clean:  ## stop the demo and delete its state (users, fruits, secrets): asks first
	@if [ "$(CONFIRM)" != "yes" ]; then \
	  printf "Delete .state/ (Keycloak users, hub state, fruits, generated secrets, and the backups in .state/backups)? [y/N] "; \
	  read answer; [ "$$answer" = "y" ] || { echo "Nothing deleted."; exit 1; }; fi
	-@[ -x $(BIN)/native-runtime ] && $(BIN)/native-runtime down
	-@[ -x $(BIN)/compose-runtime ] && docker info >/dev/null 2>&1 && $(BIN)/compose-runtime clean
	rm -rf .state test-results
