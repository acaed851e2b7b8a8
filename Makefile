# make demo : create or reuse .venv, install ppvae, fit a VAE on the embedded digits dataset
# make test : same set-up, then the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= runs/demo

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/ppvae fit --data digits --epochs 200 --batch-size 64 --latent-dim 8 --hidden 256 \
		--out $(DEMO_OUT) --overwrite

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py --data fashion-mnist --epochs 30 --batch-size 256

clean:
	rm -rf $(VENV) runs .pytest_cache
