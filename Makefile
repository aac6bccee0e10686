# Werkvloer — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.toml

.PHONY: run test test-peers soak bench lint venv clean image docs help vendor vendor-check

# Browser libraries the UI serves from the box (uPlot), pinned in package.json +
# package-lock.json. The copies in local_ui/static/vendor/ are committed, so the
# wheel, the image and an offline checkout have them without Node; `make vendor`
# rebuilds them with npm (Node 20), `make vendor-check` proves the committed copy
# is what the lock file pins.
VENDOR := local_ui/static/vendor
VENDORED := $(VENDOR)/uPlot.iife.min.js $(VENDOR)/uPlot.min.css

# Test-only: node-opcua, an independent OPC UA server the interop tests run wire.py
# and the OPC UA source against (tests/peers/opcua-node, pinned by its lock file).
# Installed again when the lock changes; never part of the box. (Defined before the
# rules that name it: make expands a rule's prerequisites when it reads the line.)
PEER := tests/peers/opcua-node
PEER_STAMP := $(PEER)/node_modules/.installed

help:
	@echo "make run    - set up and start the demo (simulator + core + ui), prints the URL"
	@echo "make test   - set up and run the whole test suite"
	@echo "make soak   - 50 kill -9 restarts of an OPC UA server with the box subscribed (a few minutes)"
	@echo "make bench  - run the benchmarks, write bench/latest.json and bench/latest.md"
	@echo "make lint   - ruff + mypy + the import contracts (import-linter, see ARCHITECTURE.md)"
	@echo "make image  - build the Raspberry Pi OS image (needs rpi-image-gen, see image-build/README.md)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP) $(VENDORED)
	$(PY) -m appliance.cli demo --config $(CONFIG)

# The Debian packages the suite needs first (installed when root), then pytest;
# -rs lists every skip with its reason.
test: system-deps $(STAMP) $(VENDORED) $(PEER_STAMP)
	$(PY) -m pytest -q -rs

$(PEER_STAMP): $(PEER)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make test needs npm (Node.js >= 18) for the OPC UA interop peer in $(PEER): install nodejs and npm" >&2; exit 1; }
	cd $(PEER) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

test-peers: $(PEER_STAMP)

system-deps:
	@tests/system-deps.sh

soak: $(STAMP)
	WERKVLOER_SOAK_RESTARTS=50 $(PY) -m pytest -q -s tests/drivers/opcua/test_restarts.py

bench: $(STAMP)
	$(PY) -m bench.run

lint: $(STAMP)
	$(PY) -m ruff check appliance drivers models local_ui sync content tests bench
	$(PY) -m mypy appliance drivers models local_ui sync content
	$(VENV)/bin/lint-imports

$(VENDORED):
	$(MAKE) vendor

vendor:
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/uplot/LICENSE $(VENDOR)/uPlot.LICENSE

vendor-check: vendor
	git diff --exit-code -- $(VENDOR)

image:
	$(MAKE) -C image-build image

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

docs: $(STAMP)
	$(PY) -m appliance.cli config-reference --update README.md
