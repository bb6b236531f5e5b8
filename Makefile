# Quick start: `make demo` (set up, then run the main experiment) and `make test`; `make docs`
# builds the documentation site.
# All create the virtual environment in .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-quick test-slow docs lint format bench gpu-check clean

$(STAMP): pyproject.toml tests/example_plugin/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e ".[dev]" -e tests/example_plugin
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m xaibench experiment=ig_vs_gradcam

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy xaibench

test: lint
	$(BIN)/pytest

# The quick loop: the fast suite without the command-line (subprocess) tests of tests/e2e.
test-quick: $(STAMP)
	$(BIN)/pytest -m "not e2e"

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

# The documentation site in site/ (any warning fails the build; needs no network).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_methods.py
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_sharing.py

gpu-check: $(STAMP)  # on a machine with a GPU: docs/guide/gpu.md
	PYTHON=$(BIN)/python benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache site
