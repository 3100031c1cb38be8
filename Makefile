# make demo: run the quickstart headless and print its throughput.
# make test: every test tier this machine can run.
# make lint: ruff, and the architecture's import contracts (pyproject.toml, lint-imports).
# Both create .venv (Python >= 3.11) when it is missing and install the project into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docker]"
	$(BIN)/workbench kernel install --sys-prefix
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/workbench demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check workbench tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/workbench bench compile
	$(BIN)/workbench bench local

clean:
	rm -rf $(VENV) .pytest_cache
