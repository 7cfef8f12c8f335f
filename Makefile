# 惠民保运营平台: build, demo, test and lint. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the tests need: browser, PostgreSQL 15 server, a CJK font for screenshots, Java for Spark.
SYSTEM_PACKAGES := chromium postgresql fonts-wqy-zenhei poppler-utils zbar-tools openjdk-17-jre-headless
export DEBIAN_FRONTEND := noninteractive

.PHONY: replay help install system-deps demo serve test test-fast lint format clean

help:
	@echo "make install      create $(VENV) and install the package with test and spark extras"
	@echo "make demo         install, migrate, load demo data, serve on http://$(HOST):$(PORT)/"
	@echo "make replay       send the demo city's year through the one-stop API, then year-end"
	@echo "make test         install (with Debian packages) and run every test"
	@echo "make test-fast    run the tests not marked slow"
	@echo "make lint         ruff check and format check"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

install: $(STAMP)

# Installs only what is missing, so a prepared machine makes no network calls.
system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq; \
	  $$sudo apt-get install -y -qq $$missing; \
	fi

# The demo city is Liaocheng 2024: its platform date sits in that plan's enrollment window (HMB_TODAY),
# and online payments go through the simulated gateway.
DEMO_TODAY ?= 2023-12-01
demo: install
	$(BIN)/hmb db upgrade
	HMB_TODAY=$(DEMO_TODAY) $(BIN)/hmb db load-demo
	HMB_TODAY=$(DEMO_TODAY) HMB_PAYMENT_SIMULATOR=true $(BIN)/hmb serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/hmb serve --host $(HOST) --port $(PORT)

# The demo city's year through the one-stop API (after `make demo` loaded it; stop that server first or
# not: replay starts its own on a free port), then the year-end re-adjudication.
replay: install
	HMB_TODAY=$(DEMO_TODAY) $(BIN)/hmb replay --late 0.02 --year-end

# pytest exits 5 when it collected no tests: not a failure for this target.
test: install system-deps
	@rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-fast: install
	@rc=0; $(BIN)/pytest -m "not slow" $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean:
	rm -rf build dist .pytest_cache .ruff_cache src/*.egg-info var/screenshots
