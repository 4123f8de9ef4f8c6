# `make book`: set up .venv, execute stale chapters (papermill), build the HTML book.
# `make test`: set up .venv, run unit tests, nbval over the committed notebooks, the -W book build, and the
#              browser test of the built book (headless Chromium: `make chromium` installs it).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup book execute html test unit nbval browser chromium bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	touch $@

book: setup execute html

# Stale chapters execute in parallel, one Dask worker process per core (the verdict chapter last); JOBS=1: one by one.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

execute: setup
	$(PY) -m vqlib.run --canonical --jobs $(JOBS)

html: setup
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

unit: setup
	$(PY) -m pytest -q tests --ignore=tests/browser

nbval: setup
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env book/*.ipynb

# The browser test opens every page of _build/html, so the book is built first.
browser: setup html
	$(PY) -m pytest -q tests/browser

# Debian's Chromium for the browser test (Playwright's own browser download is not used).
chromium:
	command -v chromium > /dev/null || { apt-get update && apt-get install -y chromium; }

# Cost of the VQ step per estimator, vs STE, a bare matmul and vector-quantize-pytorch (not part of `make test`).
bench: setup
	$(PY) -m vqlib.bench

test: unit nbval html browser

clean:
	rm -rf _build .cache runs
