# Prompt Studio: `make run` to use it, `make test` to test it. Nothing else needs setting up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
# Worker processes `make run` starts (each a pool of WORKER_THREADS threads, 50 by default).
WORKERS ?= 4
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install services setup run test browser lint format bench eval stop services-status clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the project

services: install ## Start embedded PostgreSQL and Redis under .local/ (unless DATABASE_URL/REDIS_URL are set)
	@$(MANAGE) devservices up

setup: services ## Services up, database migrated
	@$(MANAGE) migrate --noinput

run: setup ## Set everything up and run the studio, a Celery worker, beat and Flower
	@$(MANAGE) seed_demo --banner
	@honcho start -f Procfile -c worker=$(WORKERS)

test: services browser ## Set everything up and run the whole test suite against real PostgreSQL and Redis
	$(BIN)/pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (never a downloaded one); installed here when we can.
CHROMIUM ?= /usr/bin/chromium
browser: ## Install Debian's Chromium for the browser tests (as root on Debian; they skip without it)
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ; } \
		|| echo "No Chromium at $(CHROMIUM) and no way to install it here: the browser tests will skip."

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup ## Run the benchmarks in bench/; each prints one JSON line last (BENCH_ARGS=--quick for short runs)
	@for script in bench/[a-z]*.py; do echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS) || exit 1; done

eval: setup ## Ask the evaluation suites (demo, fleet, shop) with the built-in model and print the accuracy (EVAL_ARGS=--json report.json)
	@$(MANAGE) evaluate demo fleet shop $(EVAL_ARGS)

services-status: install ## Show the embedded services
	@$(MANAGE) devservices status

stop: install ## Stop the embedded PostgreSQL and Redis (data is kept under .local/)
	@$(MANAGE) devservices down

clean: ## Remove .venv (keeps .local/ and its data)
	rm -rf $(VENV)
