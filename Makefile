# Two commands on a fresh machine: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run playground test lint check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"

# The real bot when Slack tokens are set, else the playground on http://127.0.0.1:3000/.
run: install
	$(BIN)/backend-engineer start $(ARGS)

playground: install
	$(BIN)/backend-engineer playground $(ARGS)

check: install
	$(BIN)/backend-engineer check $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

# Lint and format check everywhere, types in bot/ (configured in pyproject.toml).
lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache dist build
