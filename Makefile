# Keel — the two commands a newcomer needs:
#   make demo   set everything up and chat with the demo shop (zh + en, local model, SQLite)
#   make test   lint (ruff check, ruff format --check, mypy), then the test suite (what CI runs)
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KEEL := $(VENV)/bin/keel

.PHONY: setup demo test test-all lint serve bench-load clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/llama_wheel.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	WHEELS=$$(bash scripts/llama_wheel.sh $(PY)) && $(PY) -m pip install -q --find-links "$$WHEELS" -e '.[dev]'
	touch $@

demo: setup
	$(KEEL) demo setup
	$(KEEL) chat --user u1001

serve: setup
	$(KEEL) demo setup
	$(KEEL) serve

test: setup lint
	$(PY) -m pytest -q -m "not slow or smoke"

test-all: setup
	$(PY) -m pytest -q

bench-load: setup
	$(PY) benchmarks/load.py

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src
	$(VENV)/bin/mypy

clean:
	rm -rf .keel .pytest_cache .mypy_cache .ruff_cache
