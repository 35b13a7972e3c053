# Two commands on a fresh machine:  `make run` (the daemon on its defaults)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run once test lint bench clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

# The web console listens on loopback only; the daemon prints its URL when it starts.
WEB ?= 127.0.0.1:8765

run: $(VENV)/.run-installed      ## install and run the daemon (and its web console) in the foreground
	$(BIN)/critmon run --web $(WEB)

once: $(VENV)/.run-installed     ## one full cycle, then exit
	$(BIN)/critmon once

# Debian packages the tests drive for real (a headless browser renders the HTML report and
# clicks through the web console through chromedriver; a real Alertmanager takes critmon's
# alerts; a throw-away PostgreSQL cluster holds the store in the store, alerting and failover
# tests); installed when missing, so `make test` on a fresh machine and CI run every test.
SYSTEM_TOOLS = chromium chromedriver systemd-analyze prometheus-alertmanager
# The PostgreSQL server's programs live outside PATH (/usr/lib/postgresql/<version>/bin).
PG_SERVER = /usr/lib/postgresql/*/bin/postgres

system-deps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	ls $(PG_SERVER) >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  echo "installing Debian packages for the tests: chromium chromium-driver systemd prometheus-alertmanager postgresql"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver systemd prometheus-alertmanager \
	    postgresql >/dev/null; \
	fi

test: $(VENV)/.dev-installed system-deps  ## install the dev extras and run the whole suite
	$(BIN)/ruff check monitor detectors tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(VENV)/.dev-installed    ## ruff and the layering contract (pyproject.toml, import-linter)
	$(BIN)/ruff check monitor detectors tests bench scripts
	$(BIN)/lint-imports

bench: $(VENV)/.dev-installed    ## benchmarks print figures; they are not tests
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
