# popbase — run `make help` for the targets.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cat requirements.txt requirements-dev.txt | md5sum | cut -c1-8)
DEMO_PERSONS ?= 20000
DEMO_SEED ?= 1
# Locally the test database is kept between runs; CI builds it fresh.
ifdef CI
PYTEST_DB := --create-db
else
PYTEST_DB := --reuse-db
endif
PYTEST_WORKERS ?= 2
comma := ,

.DEFAULT_GOAL := help
.PHONY: help install run test fuzz lint format bench browser-deps report-deps pgbouncer-deps worker replica deploy-check backup restore-drill

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f .venv/.installed-*; touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements

run: install report-deps ## Migrate, load the demo city, create the demo logins (officer, supervisor, statistician), serve on 127.0.0.1:8000
	$(PY) manage.py migrate --noinput
	@# The embedded server's owner and runtime roles get their grants (docs/database-roles.md).
	@if [ -z "$$DATABASE_URL" ]; then $(PY) manage.py db_roles --owner popbase_owner --runtime popbase_app; fi
	$(PY) manage.py load_regions
	$(PY) manage.py seed_demo --persons $(DEMO_PERSONS) --seed $(DEMO_SEED) --if-empty
	$(PY) manage.py create_demo_officer
	$(PY) manage.py runserver --insecure 127.0.0.1:8000

browser-deps: ## Install Debian's Chromium for the browser test (needs root)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

report-deps: ## Install a CJK font and poppler for the statistics reports and their tests (needs root)
	@{ fc-list | grep -qi -e 'wqy' -e 'noto sans cjk'; } && command -v pdftoppm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei poppler-utils >/dev/null; }

pgbouncer-deps: ## Install Debian's PgBouncer for the pooling test (needs root; its service is not used)
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

# The Celery integration tests need a real Redis: this machine's, unless REDIS_URL says otherwise.
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
test: install browser-deps report-deps pgbouncer-deps ## Run the whole test suite (DATABASE_URL if set, else embedded PostgreSQL)
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_DB) $(PYTEST_ARGS)

# The long schemathesis run over the department API: every phase and check, FUZZ_EXAMPLES per
# operation in the fuzzing phase; prints the cases run per operation and status class.
FUZZ_EXAMPLES ?= 700
fuzz: export REDIS_URL ?= redis://127.0.0.1:6379/0
fuzz: install ## Fuzz the department API with schemathesis (>= 5,000 cases) and print the counts
	rm -f .fuzz-report.*
	POPBASE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) POPBASE_FUZZ_REPORT=.fuzz-report \
		$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_DB) -q -p no:cacheprovider tests/sharing/test_schemathesis.py
	@$(PY) -c "import collections, glob, json; c = collections.Counter(); \
	[c.update(json.load(open(f))) for f in glob.glob('.fuzz-report.*.json')]; \
	[print(f'  {n:6d}  {k}') for k, n in sorted(c.items())]; print(f'  {sum(c.values()):6d}  cases in all')"

lint: install ## Ruff lint and format check, mypy on the services and selectors, migrations in step with models, import layers kept
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	@# The django-stubs plugin imports config.settings; a DATABASE_URL, parsed but never
	@# connected to, keeps that from starting the embedded server (docs/architecture.md, Types).
	DATABASE_URL=$${DATABASE_URL:-postgres://mypy@127.0.0.1:5432/mypy} $(PY) -m mypy
	$(PY) manage.py makemigrations --check --dry-run
	.venv/bin/lint-imports

format: install ## Apply ruff fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: install ## Run the benchmarks in bench/ (loads 1M persons into a scratch database)
	$(PY) bench/run_all.py

replica: install ## Start a scratch primary and a streaming standby (PostgreSQL 15 binaries); Ctrl-C stops both
	$(PY) -m config.replica_pair

# QUEUES: comma-separated, of default, ingest, statistics, permits, audit (docs/scaling.md).
worker: install ## Start a Celery worker (needs REDIS_URL); QUEUES=ingest,... limits its queues
	.venv/bin/celery -A config worker -l info $(if $(QUEUES),-Q $(QUEUES) -n $(subst $(comma),-,$(QUEUES))@%h)

# ENV_FILE=/etc/popbase/popbase.env checks a server's real settings; without it, generated ones.
deploy-check: install ## check --deploy plus popbase's production refusals, production-like env
	$(PY) deploy/deploy_check.py $(ENV_FILE)

backup: install ## A base backup into BACKUP_DIR (pg_basebackup, verified, old ones pruned)
	$(PY) manage.py backup_base

# make restore-drill INTO=/var/lib/postgresql/drill [PORT=5433] [TIME=2026-12-01T09:00:00+08:00]
restore-drill: install ## Restore BACKUP_DIR to TIME into a new cluster INTO on PORT and verify it
	$(PY) manage.py backup_restore --into $(INTO) --port $(or $(PORT),5433) $(if $(TIME),--time $(TIME))
