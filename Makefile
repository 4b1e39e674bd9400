# Two commands do all the setup on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test test-quick lint typecheck unit install clean bench bench-quick

run: $(INSTALLED)
	$(BIN)/ticket-audit serve

test: lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest -q

# The read models' unit tests alone (tests/projections/unit): seconds, no PostgreSQL needed.
# They use neither hypothesis nor schemathesis, whose plugins take half the start-up time.
test-quick: $(INSTALLED)
	$(BIN)/pytest -q -p no:hypothesispytest -p no:schemathesis tests/projections/unit

# Needs the PostgreSQL server of `make test`; BENCH_ARGS passes options (e.g. --events 20000).
bench: $(INSTALLED)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(INSTALLED)
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

install: $(INSTALLED)

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .pytest_cache .ruff_cache
