# The two commands of the README:
#   make demo   - bundled district + local SNMP agents + bundled capture -> stage, charts, report
#   make test   - lint, type-check and the whole test suite (what CI runs)
# Both create or refresh the project-local virtualenv (.venv) themselves.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.netstage-installed

.PHONY: demo test lint bench clean venv system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/netstage demo
	@echo "What-if page: $(BIN)/netstage serve example:stage3 -- then open the printed http://127.0.0.1:8765/ (docs/serve.md)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) system-deps
	@bash scripts/run-tests.sh

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache out
