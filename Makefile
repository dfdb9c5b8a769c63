# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The exact versions CI tested; pyproject.toml keeps the compatible ranges. Refresh with `make lock`.
LOCK    = requirements/lock.txt
# A constraint file in pip's own configuration (a machine may cap the releases it holds) also binds the lock.
PIP_CONSTRAINT_FILE := $(shell $(PYTHON) -m pip config list 2>/dev/null | sed -n "s/^global.constraint='\(.*\)'$$/\1/p")

.PHONY: setup demo test test-latest lock browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[test]"
	touch $@

demo: setup
	$(BIN)/siamkit demo --out runs/demo

# Debian's Chromium for the browser test of the web page; tests skip it (with the reason) where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the browser test will be skipped"; }

test: setup browser
	$(BIN)/python -m pytest -q --durations=15

# The newest releases that pyproject.toml allows, in a venv of their own: drift shows here before users meet it.
test-latest: browser
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]"
	.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
	.venv-latest/bin/python -m pytest -q

# Re-resolve the lock from pyproject.toml with pip-tools (in a venv of its own), then `make test` with it.
lock:
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet "pip-tools>=7.4"
	rm -f $(LOCK)
	.venv-tools/bin/pip-compile --quiet --extra test --strip-extras --no-emit-index-url --no-emit-find-links \
		$(if $(PIP_CONSTRAINT_FILE),--constraint $(PIP_CONSTRAINT_FILE)) --output-file $(LOCK) pyproject.toml

clean:
	rm -rf $(VENV) .venv-latest .venv-tools runs .pytest_cache
