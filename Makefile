# The two commands a new machine needs:  make run   and   make test
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo simulate test lint bench clean

$(BIN)/.installed: pyproject.toml packaging/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# A random JWT secret made once per checkout (never committed): the server refuses a default one.
.twap-secret:
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(48))" > $@

run: $(BIN)/.installed .twap-secret
	TWAP_JWT_SECRET=$${TWAP_JWT_SECRET:-$$(cat .twap-secret)} $(BIN)/twapserver run --host $(HOST) --port $(PORT)

demo: $(BIN)/.installed .twap-secret
	TWAP_JWT_SECRET=$${TWAP_JWT_SECRET:-$$(cat .twap-secret)} $(BIN)/twapserver run --demo --host $(HOST) --port $(PORT)

simulate: $(BIN)/.installed
	$(BIN)/twap simulate --demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_orders.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_ws.py --clients 1000

# Longer runs and those needing Redis: benchmarks/bench_bus.py, feed_chaos.py, soak.py.

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
