# Two commands on a fresh machine:  `make run` (the daemon on its defaults)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run once test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed      ## install and run the daemon in the foreground (Ctrl-C stops)
	$(BIN)/critmon run

once: $(VENV)/.run-installed     ## one full cycle, then exit
	$(BIN)/critmon once

test: $(VENV)/.dev-installed     ## install the dev extras and run the whole suite
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
