# One entry point for people and CI. `make test` and `make demo` work on a fresh clone:
# they create .venv with the machine's python3.11 and install everything first.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The Khronos glTF-Validator (npm, pinned by its package-lock.json) for tests/test_gltf_spec.py;
# without npm the install says so and that test skips.
VALIDATOR := tools/gltf-validator/node_modules/gltf-validator/package.json
# Two third-party SPZ readers (npm, pinned by tools/spz-reader/package-lock.json) for
# tests/test_spz.py; without npm the install says so and those tests skip.
SPZ_READER := tools/spz-reader/node_modules/spz-js/package.json

.PHONY: install test lint demo addon bench clean bpy-versions

install: $(STAMP) $(VALIDATOR) $(SPZ_READER) bpy-versions

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[photo,smpl,gpu,full,dev]'
	touch $(STAMP)

$(VALIDATOR): tools/gltf-validator/package.json tools/gltf-validator/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tools/gltf-validator --no-audit --no-fund && touch $@; \
	else echo "npm not found: the glTF-Validator test (tests/test_gltf_spec.py) will skip"; fi

$(SPZ_READER): tools/spz-reader/package.json tools/spz-reader/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tools/spz-reader --no-audit --no-fund && touch $@; \
	else echo "npm not found: the npm SPZ reader tests (tests/test_spz.py) will skip"; fi

# tests/blender also runs on the Blender versions of tests/blender/bpy_versions.txt, one
# virtual environment each (.venv-bpy-*; Python 3.13 for bpy 5.1 and newer, from pyenv or
# Debian's packages); one that cannot be made says so, and its tests skip.
bpy-versions:
	bash tools/bpy_venvs.sh

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(STAMP) $(VALIDATOR) $(SPZ_READER) bpy-versions lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/humancrafter demo

addon: $(STAMP)
	$(PY) tools/build_addon.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf dist build .pytest_cache
