# The two commands of the README: `make run` and `make test`. Both set everything up first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test reliability bench demo gpu-check gpu-wheels

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

# The CUDA path on a GPU machine (no set-up: its own Python and torch; see scripts/gpu_check.sh).
gpu-check:
	bash scripts/gpu_check.sh $(ARGS)

# Wheels a GPU machine without network lacks (run where pip reaches PyPI).
gpu-wheels:
	bash scripts/gpu_wheels.sh
