# gridmap: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv and install the pinned dependencies (requirements.lock) first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gridmap-installed

.PHONY: demo test lint typecheck bench system-deps lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[test,bench]"
	touch $(STAMP)

## demo: the main job on the shipped sample workspace (writes maps/community.html)
demo: $(STAMP)
	$(VENV)/bin/gridmap map --out maps/community.html

## system-deps: Debian packages the tests use (chromium, gdal-bin, CJK fonts)
system-deps:
	bash scripts/install-system-deps.sh

## test: install everything the tests need, then run them
test: $(STAMP) system-deps
	$(PY) -m pytest -q -n 2 --dist loadfile

## lint: ruff (rules and formatting) over the code, the tests and the benchmarks
lint: $(STAMP)
	$(VENV)/bin/ruff check gridmap tests benchmarks
	$(VENV)/bin/ruff format --check gridmap tests benchmarks

## typecheck: mypy on the modules that are clean (the rest: the ratchet in pyproject.toml)
typecheck: $(STAMP)
	$(VENV)/bin/mypy

## bench: every benchmark at the sizes quoted in the README (long: tens of minutes)
bench: $(STAMP)
	$(PY) benchmarks/bench_assign.py --stream 10000000
	$(PY) benchmarks/bench_coverage.py
	$(PY) benchmarks/bench_map.py --browser
	$(PY) benchmarks/bench_locate.py
	$(PY) benchmarks/bench_api.py --requests 3000 --clients 50

lock:
	$(PY) -m pip freeze --exclude-editable | grep -vi '^gridmap' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
