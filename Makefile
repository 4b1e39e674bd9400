# Two commands do all the setup on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs what running needs, `make test` adds the `test` extra.
RUN_INSTALLED := $(VENV)/.installed-run
TEST_INSTALLED := $(VENV)/.installed-test

.PHONY: run test test-quick lint typecheck unit install clean bench bench-quick screenshots examples

run: $(RUN_INSTALLED)
	$(BIN)/ticket-audit serve

test: lint typecheck unit

lint: $(TEST_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_INSTALLED)
	$(BIN)/mypy

unit: $(TEST_INSTALLED)
	$(BIN)/pytest -q

# The read models' unit tests alone (tests/projections/unit): seconds, no PostgreSQL needed.
# They use neither hypothesis nor schemathesis, whose plugins take half the start-up time.
test-quick: $(TEST_INSTALLED)
	$(BIN)/pytest -q -p no:hypothesispytest -p no:schemathesis tests/projections/unit

# Needs the PostgreSQL server of `make test`; BENCH_ARGS passes options (e.g. --events 20000).
bench: $(TEST_INSTALLED)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(TEST_INSTALLED)
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# The console's home and ticket pages, wide and phone-sized, for the README (needs chromium).
screenshots: $(TEST_INSTALLED)
	$(BIN)/python -m tests.console.screenshots docs/screenshots

# Rewrites docs/examples.md from the real service; tests/test_examples.py fails until it is current.
examples: $(TEST_INSTALLED)
	$(BIN)/python -m tests.examples

install: $(TEST_INSTALLED)

$(RUN_INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The test extra holds everything running needs as well, so it satisfies `make run` too.
$(TEST_INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(RUN_INSTALLED) $@

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .pytest_cache .ruff_cache
