# Two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the docs tools (docs/requirements.txt): make docs needs them, and the tests that validate docstrings
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: demo test test-fast lint bench docs clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# setuptools' "Editable installation" banner is advice for package authors, not for a user of make demo
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/drl run dabney_variable_magnitude --tau-grid 9 --gamma 0.5,0.8,0.95 --seed 0 --record-every 10 --out demo --overwrite
	$(BIN)/drl info demo
	$(BIN)/drl plot demo --kind summary --save demo_summary
	$(BIN)/drl plot demo --kind reward_response --save demo_reward_response
	$(BIN)/drl plot demo --kind val_over_t --every 150 --save demo_val_over_t

# Tests in up to 4 worker processes (one per core), a module per worker at a time (its fixtures built once):
# much of the suite waits on subprocesses and kernels, so on 2 cores this takes ~2/3 of the serial time.
test: $(STAMP) $(DOCS_STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadscope --no-loadscope-reorder

# The quick tier while editing: every test not marked slow (those over ~3 s: notebooks, sweeps on clusters,
# SLURM, tutorials, reproductions). `make test` (CI) runs them all.
test-fast: $(STAMP) $(DOCS_STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow" --numprocesses=auto --maxprocesses=4 --dist=loadscope --no-loadscope-reorder

# The documentation site: its tools (docs/requirements.txt) installed on first use, the API reference generated
# from each package's __all__ and docstrings (docs/conf.py), the landing page docs/drl.md. Open
# docs/_build/html/index.html. Every warning is an error (-W), every cross-reference must resolve (nitpicky).
$(DOCS_STAMP): docs/requirements.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r docs/requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/ruff check drl tests benchmarks examples

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
