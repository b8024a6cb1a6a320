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

# The tests that share the lab run in one worker, each other module whole in one; the
# groups go out heaviest first (tests/conftest.py), the lab's first. Three workers on two
# cores: with two, the cores idled 18% of the time (tests waiting on brokers, services and
# clocks) and the suite took 15:09 to 16:09; with three they idle about 5%, and it took
# 14:06 to 14:25, bound by the lab's one worker (4 December 2026). Since the lab's worker has
# four times the others' share of the CPU (tests/fixtures/cpu_shares.py), its tests take 582 s
# of a 786 s run; four workers took 780 s, as the cores are then busy (6 December 2026).
TEST_WORKERS ?= 3

test: $(STAMP) system-deps check bytecode
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# A run starts many Python processes (govmig commands, playbook runs and the plugins they load,
# the chaos harness), and Python may run here with PYTHONDONTWRITEBYTECODE set (this machine
# does): each would then compile our modules from source again. Compile them once; only what
# changed is compiled again.
bytecode: $(STAMP)
	$(PY) -m compileall -q orchestrator chaos bench tests playbooks > /dev/null

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
