# The README's two commands: `make example-class` (the course's main job) and `make test`.
# Each one creates .venv and installs requirements.txt first if that has not happened yet.
# A world-readable interpreter first: student code is graded as an unprivileged user, which
# must be able to read the standard library (pyenv keeps it under /root, mode 700).
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3.11 python3; do command -v $$p && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The book's MathJax, from npm (the version is in dlcourse_grading/book.py).
MATHJAX := .mathjax/node_modules/mathjax/es5/tex-mml-chtml.js

.PHONY: install example-class test manifest release lab hub chromium book clean

install: $(STAMP)

# The course is two distributions, both editable here: the student one (student/: dlcourse) and the
# grading one (the root's pyproject.toml: dlcourse_grading, `course`, the `course-fork` provisioner).
# --no-deps: `dlcourse` must never be resolved from an index (PyPI has an unrelated project of that name).
# Two steps, student first: it replaces an older single `dlcourse` install, whose removal takes `course` along.
$(STAMP): requirements.txt pyproject.toml student/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# jsonschema (under nbformat, so under every nbgrader command, grading worker and Jupyter server)
	# builds three Earley parsers from rfc3987-syntax's grammar when it is imported: 2.2 s of CPU per
	# process, measured. Only its "iri" format checks use them, which nothing here asks for (jsonschema
	# skips a format it has no checker for). jupyter-events pulls it in through jsonschema[format-nongpl].
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e ./student
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

example-class: $(STAMP)
	$(BIN)/course example-class

test: $(STAMP) chromium $(MATHJAX)
	$(BIN)/python -m pytest

# Debian's Chromium for the classroom's browser tests (they run as root, like CI, because the
# classroom creates Unix accounts; without root they are skipped and nothing is installed).
chromium:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	fi

# The course as a static book in build/book/html/ (lectures executed, assignments as released).
# MathJax comes from the npm registry once, at set-up, so that neither the build nor the site
# needs the network afterwards (the book's test uses it too).
$(MATHJAX): | $(STAMP)
	$(BIN)/course book --install-mathjax

book: $(STAMP) $(MATHJAX)
	$(BIN)/course book

manifest: $(STAMP)
	$(BIN)/course manifest --write

release: $(STAMP)
	$(BIN)/course release

# A real JupyterHub classroom on loopback (as root); configurable-http-proxy comes from npm on first use.
hub: $(STAMP)
	$(BIN)/course hub

lab: $(STAMP)
	$(BIN)/jupyter lab

clean:
	rm -rf build .pytest_cache
