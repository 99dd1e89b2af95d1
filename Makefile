# The README's two commands: `make example-class` (the course's main job) and `make test`.
# Each one creates .venv and installs requirements.txt first if that has not happened yet.
# A world-readable interpreter first: student code is graded as an unprivileged user, which
# must be able to read the standard library (pyenv keeps it under /root, mode 700).
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3.11 python3; do command -v $$p && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install example-class test manifest release lab clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

example-class: $(STAMP)
	$(BIN)/course example-class

test: $(STAMP)
	$(BIN)/python -m pytest

manifest: $(STAMP)
	$(BIN)/course manifest --write

release: $(STAMP)
	$(BIN)/course release

lab: $(STAMP)
	$(BIN)/jupyter lab

clean:
	rm -rf build .pytest_cache
