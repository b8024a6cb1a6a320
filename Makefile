# The two commands in README.md: `make demo` and `make test`.
# Everything else here is what those two need, installed by the project itself.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test chaos check lint typecheck unit integration schemas clean bytecode

# As root the demo runs on the lab of real hosts, so it installs what the lab needs;
# without root it runs the local provider and needs only Java and Maven for Kafka.
demo: $(STAMP) bytecode
	@[ "$$(id -u)" -ne 0 ] || bash scripts/system-deps.sh
	$(VENV)/bin/govmig demo

# Two workers; the tests that share the lab run in one of them (tests/conftest.py).
# Three ran in 10 min once and in 18 min with two timeouts the next time: two cores saturate.
TEST_WORKERS ?= 2

test: $(STAMP) system-deps check bytecode
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

# A run starts many Python processes (govmig commands, runs, the chaos harness), and Python
# may run here with PYTHONDONTWRITEBYTECODE set (this machine does): each would then compile
# our modules from source again. Compile them once; only what changed is compiled again.
bytecode: $(STAMP)
	$(PY) -m compileall -q orchestrator chaos bench tests > /dev/null

# The chaos suite against the real components (README: "Chaos suite"). As root it runs the
# lab's scenarios too; without root they are reported as not run and the target fails.
chaos: $(STAMP) system-deps
	flock /tmp/govmig-lab.lock $(PY) -m chaos

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m orchestrator.events.schemagen --check

unit: $(STAMP)
	$(PY) -m pytest tests/unit

schemas: $(STAMP)
	$(PY) -m orchestrator.events.schemagen

system-deps:
	bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	bash scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .cache var .mypy_cache .ruff_cache .pytest_cache
