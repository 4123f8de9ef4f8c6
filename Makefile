# `make book`: set up .venv, compute stale results (none on a fresh clone), execute stale chapters (papermill),
#              build the HTML book.
# `make test`: set up .venv, lint, unit tests, verify the results store, nbval over the committed notebooks,
#              the -W book build, and the browser test of the built book (headless Chromium: `make chromium`).
# `make results`: compute the stale tasks of every study into results/ on Dask (FORCE=1: all of them).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# nbval over the committed notebooks: words compared exactly, numbers by each chapter's reproduction check.
# (pyproject.toml adds --nbval-sanitize-with tests/nbval-sanitize.cfg to every pytest run.)
NBVAL := $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env
# "Another machine": the numeric libraries held to an older instruction set (torch's own kernels without
# AVX2/AVX-512, MKL's conditional numerical reproducibility, oneDNN at SSE4.1). On an AVX-512 machine this
# changes the last bits of training results, as a different CPU would.
RESTRICTED := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2

.PHONY: setup book results execute html test lint unit verify verify-native verify-restricted nbval nbval-native \
	nbval-restricted browser chromium pdf bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	touch $@

book: setup results execute html

# Chapters whose committed notebook was made from the same inputs are rendered, not re-executed; stale
# ones execute in parallel, one Dask worker process per core (the verdict chapter last). `make book FORCE=1`
# re-executes every chapter; JOBS=1 executes them one by one.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

execute: setup
	$(PY) -m vqlib.run --canonical --jobs $(JOBS) $(if $(FORCE),--force)

# Heavy computation: every chapter's study tasks, content-addressed in results/ (vqlib.store); stale ones only.
# SCHEDULER=tcp://host:8786 runs them on an existing Dask cluster.
results: setup
	$(PY) -m vqlib.runner.compute --jobs $(JOBS) $(if $(FORCE),--force) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

html: setup
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

unit: setup
	$(PY) -m pytest -q tests --ignore=tests/browser

lint: setup
	$(VENV)/bin/ruff check vqlib tests _ext

# The results store: every stored task fresh and intact, and a sample recomputed and compared (vqlib.runner.verify),
# natively and under the restricted instruction set at once (two cores).
verify: setup
	$(MAKE) --no-print-directory --output-sync=target -j2 verify-native verify-restricted

verify-native: setup
	$(PY) -m vqlib.runner.verify

verify-restricted: setup
	$(RESTRICTED) $(PY) -m vqlib.runner.verify

# The committed notebooks re-executed twice at once (two cores): natively and under the restricted
# instruction set; each chapter's last cell compares what it shows with the committed notebook. Chapters
# read the committed results (VQLIB_RESULTS_READONLY: a missing result is an error, never a computation).
nbval: setup
	$(MAKE) --no-print-directory --output-sync=target -j2 nbval-native nbval-restricted

# The Cost chapter is left out: it shows only timings, which are never compared.
CHECKED_NOTEBOOKS = $(filter-out book/cost.ipynb,$(wildcard book/*.ipynb))

nbval-native: setup
	VQLIB_RESULTS_READONLY=1 VQLIB_REPRODUCE_CHECK=1 $(NBVAL) $(CHECKED_NOTEBOOKS)

nbval-restricted: setup
	$(RESTRICTED) VQLIB_RESULTS_READONLY=1 VQLIB_REPRODUCE_CHECK=1 $(NBVAL) $(CHECKED_NOTEBOOKS)

# The browser test opens every page of _build/html, so the book is built first; it checks the PDF too.
browser: setup chromium html pdf
	$(PY) -m pytest -q tests/browser

# The whole book as one PDF (_build/pdf/book.pdf), printed offline by the system Chromium from the built HTML.
pdf: setup chromium html
	$(PY) _ext/book_pdf.py

# Debian's Chromium for the browser test (Playwright's own browser download is not used): installed with
# apt as root; otherwise a message says what to install.
chromium:
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" -eq 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "The browser test needs Chromium (Debian package 'chromium'): run 'sudo apt-get install chromium' (or 'sudo make chromium'), then 'make test' again." >&2; exit 1; fi; }

# Cost of the VQ step per estimator, vs STE, a bare matmul and vector-quantize-pytorch (not part of `make test`).
bench: setup
	$(PY) -m vqlib.bench

test: lint unit verify nbval html browser

clean:
	rm -rf _build .cache runs
