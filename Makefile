# Two entry points for a fresh machine: `make demo` and `make test`.
# Both install the locked set (requirements/*.txt, pinned with hashes) into their own venv:
# the demo gets the runtime and the demo extra, the tests get runtime + test tools.
PY ?= python3
VENV ?= .venv
DEMO_VENV ?= .venv-demo
LATEST_VENV ?= .venv-latest
PIP_INSTALL = pip install --quiet --disable-pip-version-check
LOCKED = $(PIP_INSTALL) --require-hashes --no-deps
COMPILE = pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host

.PHONY: demo test test-latest lint typecheck layers venv lock lock-upgrade clean

# One venv from lock files: $(1) venv, $(2) lock file. pip installs the installers
# (requirements/build.txt: setuptools, uv), uv installs the lock with the same hashes, and the
# project goes in editable without build isolation (its backend is already there).
define locked_venv
	$(PY) -m venv $(1)
	$(1)/bin/$(LOCKED) -r requirements/build.txt
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python --require-hashes --no-deps -r $(2)
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python --no-deps --no-build-isolation -e .
endef

$(VENV)/.locked: requirements/dev.txt requirements/build.txt pyproject.toml
	$(call locked_venv,$(VENV),requirements/dev.txt)
	touch $@

$(DEMO_VENV)/.locked: requirements/demo.txt requirements/build.txt pyproject.toml
	$(call locked_venv,$(DEMO_VENV),requirements/demo.txt)
	touch $@

venv: $(VENV)/.locked

## demo: install the runtime and the demo extra (a local AWS stand-in; no test tools), then
## run the whole product on a seeded local estate
demo: $(DEMO_VENV)/.locked
	$(DEMO_VENV)/bin/kmsguard demo

## test: install runtime + test tools, then lint, type-check, check layers and run every test;
## scripts/test-services.sh installs (apt-get) and starts PostgreSQL and Chromium for them
test: $(VENV)/.locked
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	eval "$$(scripts/test-services.sh start)" && $(VENV)/bin/pytest -n 2 -q; \
		rc=$$?; scripts/test-services.sh stop; exit $$rc

## test-latest: the suite against the newest releases in range (not the lock), to see drift
## early; tests that fail because a library (moto) lags AWS are named as such.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PY) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/$(PIP_INSTALL) --upgrade pip setuptools
	$(LATEST_VENV)/bin/$(PIP_INSTALL) --upgrade -e '.[dev]'
	$(LATEST_VENV)/bin/pip list --format=freeze | grep -iE '^(boto3|botocore|moto)=='
	KMSGUARD_TEST_LATEST=1 $(LATEST_VENV)/bin/pytest -n 2 -q

## lock: pin what pyproject.toml adds or changes, keeping every other pin as it is;
## lock-upgrade: re-pin everything to the newest releases allowed by pyproject.toml and
## requirements/constraints.txt. Both need the package index.
LOCK_VENV = .venv-lock
define compile_locks
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/$(PIP_INSTALL) 'pip-tools>=7.4,<8'
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/$(COMPILE) $(1) \
		-c requirements/constraints.txt -o requirements/runtime.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/$(COMPILE) $(1) \
		-c requirements/constraints.txt --extra dev -o requirements/dev.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/$(COMPILE) $(1) \
		-c requirements/constraints.txt --extra demo -o requirements/demo.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/$(COMPILE) $(1) \
		-o requirements/build.txt requirements/build.in
endef

lock:
	$(call compile_locks,)

lock-upgrade:
	$(call compile_locks,--upgrade)

lint: venv
	$(VENV)/bin/ruff check src tests bench

typecheck: venv
	$(VENV)/bin/mypy

layers: venv
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(LATEST_VENV) $(LOCK_VENV) build dist *.egg-info \
		.pytest_cache .mypy_cache .ruff_cache
