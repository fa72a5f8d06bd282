# Two commands a user needs: `make quickstart` (the main job) and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install test quickstart lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check scaling tests benchmarks analysis notebooks
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

quickstart: $(STAMP)
	$(VENV)/bin/scaling run sweeps/quickstart.yaml

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
