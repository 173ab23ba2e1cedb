# The two commands of the README: `make run` and `make test`. Both set everything up first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test reliability bench demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

run: setup
	$(PY) main.py

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

reliability: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m reliability

demo: setup
	$(PY) main.py train --demo

bench: setup
	$(PY) main.py bench
