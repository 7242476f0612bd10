# The README's two commands: `make run` (the platform on the embedded default) and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install run test test-quick bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/accidentlink run

test: install
	bash scripts/test.sh

test-quick: install
	$(PY) -m pytest -q -m "not integration and not e2e" tests/unit

bench: install
	$(VENV)/bin/accidentlink bench

clean:
	rm -rf $(VENV) .var test-artifacts
