# One entry point for people and CI. `make test` and `make demo` work on a fresh clone:
# they create .venv with the machine's python3.11 and install everything first.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo addon bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[photo,smpl,gpu,full,dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(STAMP) lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/humancrafter demo

addon: $(STAMP)
	$(PY) tools/build_addon.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf dist build .pytest_cache
