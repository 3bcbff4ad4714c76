# The workbook's commands. `make lab` and `make test` each build the same .venv
# first (once: the stamp file makes a second run a no-op until requirements change).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test run benchmark teacher clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed, found " + sys.version)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@touch $(STAMP)

## Open the workbook in JupyterLab (the main job).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## Run every test: unit tests, then every notebook under nbval and papermill.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope

## Execute every notebook headless into build/ and print a table of timings.
run: $(STAMP)
	$(BIN)/python tools/run_notebooks.py

## Print notebook execution times and the training loop's overhead.
benchmark: $(STAMP)
	$(BIN)/python tools/benchmark.py

## Retrain the teacher and overwrite data/teacher_mlp.pt.
teacher: $(STAMP)
	$(BIN)/python -m distill_lib.teacher

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
