# make demo : create or reuse .venv, install ppvae, fit a VAE on the embedded digits dataset
# make test : same set-up, then the test suite
# make weights : bring back the kept Fashion-MNIST models of issue 9 from git history
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= runs/demo

.PHONY: demo test lint bench weights clean

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

# the last commit whose tree holds the kept exports (bench/quality/weights/README.md)
WEIGHTS_COMMIT := e7b9dae3b23c72e7d4db13e34241df265a6a8060
WEIGHTS := normal-900-iwae5-300 vamp-700-c500-iwae5-200-c500-iwae50-20-c500 \
	vamp-300-convhvae-gated vamp-300-convhvae-iwae5-60-convhvae-iwae50-10-convhvae

weights:
	git restore --source=$(WEIGHTS_COMMIT) -- $(addprefix bench/quality/weights/,$(WEIGHTS))

clean:
	rm -rf $(VENV) runs .pytest_cache
