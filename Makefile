# `make book`: set up .venv, execute stale chapters (papermill), build the HTML book.
# `make test`: set up .venv, run unit tests, nbval over the committed notebooks, and the -W book build.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup book execute html test unit nbval clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	touch $@

book: setup execute html

execute: setup
	$(PY) -m vqlib.run --canonical

html: setup
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

unit: setup
	$(PY) -m pytest -q tests

nbval: setup
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env book/*.ipynb

test: unit nbval html

clean:
	rm -rf _build .cache runs
