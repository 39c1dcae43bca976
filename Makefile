# zmesos: every target installs what it needs; `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv zookeeper chromium run test lint format bench bench-actors bench-allocator bench-cluster bench-flood bench-recovery bench-failover bench-fuzz bench-endpoints clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's ZooKeeper, for the high-availability tests and `zmesos local --masters 3`.
# Installed only when missing; the package index is refreshed first, and only then.
ZOOKEEPER_JAR := /usr/share/java/zookeeper.jar
zookeeper:
	@test -f $(ZOOKEEPER_JAR) || { \
		echo "installing Debian's zookeeper package"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zookeeper >/dev/null; \
	}

# Debian's headless Chromium and its WebDriver, for the web UI's browser tests.
# Installed only when missing; the package index is refreshed first, and only then.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
chromium:
	@test -x $(CHROMIUM) -a -x $(CHROMEDRIVER) || { \
		echo "installing Debian's chromium and chromium-driver packages"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	}

# A local cluster (master + agents as OS processes) runs the example frameworks and exits;
# `make run STAY=1` keeps it up afterwards (web UI at the printed address) until Ctrl-C.
run: venv
	$(PY) -m zmesos.cli local --agents 2 --example $(if $(STAY),--stay)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint zookeeper chromium
	$(PY) -m pytest -q -p no:cacheprovider

bench: bench-actors bench-allocator bench-cluster bench-flood bench-recovery bench-failover bench-fuzz bench-endpoints

bench-actors: venv
	$(PY) -m benchmarks.actors

bench-allocator: venv
	$(PY) -m benchmarks.allocator

bench-cluster: venv
	$(PY) -m benchmarks.cluster

bench-failover: venv zookeeper
	$(PY) -m benchmarks.failover

bench-flood: venv
	$(PY) -m benchmarks.flood

bench-recovery: venv
	$(PY) -m benchmarks.recovery

# 10^5 fuzz frames at a real master and agent; prints frames/s and the checks afterwards.
# The master's operator endpoints (/state, /tasks, /metrics, ...) with 1,000 agents and 10,000 tasks.
bench-endpoints: venv
	$(PY) -m benchmarks.endpoints

bench-fuzz: venv
	$(PY) -m benchmarks.fuzz

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
