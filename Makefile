# The workbook's commands. `make lab` and `make test` each build the same .venv
# first (once: the stamp file makes a second run a no-op until requirements change).
#
# Options (make TARGET NAME=value; `make help` prints this):
#   LAB_ARGS     extra arguments for `jupyter lab`. On a remote server:
#                  make lab LAB_ARGS="--no-browser --ip=0.0.0.0 --port=8888"
#                Run as root (a container, a cloud VM), --allow-root is added for you.
#   TORCH_INDEX  install torch from PyTorch's own wheel index for that build: cpu (on Linux,
#                the CPU build without the CUDA download), or cu126, cu128, ...:
#                  make test TORCH_INDEX=cpu
#   PIP_ARGS     extra arguments for every `pip install` (a mirror, --no-cache-dir, ...)
#   FULL=1       make benchmark: the long run (every notebook timed, more repeats)
#   NB           make handouts: only these notebooks, by number: make handouts NB="02 04"
#   SRC          make handouts: the folder of notebooks (default notebooks; SRC=release: the student release)
#   OUT          make student: the release folder (default release); make grade: the reports folder
#                (default build/grades)
#   SUBMISSIONS  make grade: the folder of submissions, one folder per student:
#                  make grade SUBMISSIONS=submissions      (submissions/<student>/NN_topic.ipynb)
#   GRADE_ARGS   make grade: more options, e.g. GRADE_ARGS="--timeout 120 --jobs 2 -p student_epochs 100"
#   PYTHON       the interpreter that builds .venv (default python3)
PYTHON      ?= python3
LAB_ARGS    ?=
TORCH_INDEX ?=
PIP_ARGS    ?=
FULL        ?=
VENV        := .venv
BIN         := $(VENV)/bin
# One stamp per torch build, so that `make test TORCH_INDEX=cpu` after a default install
# swaps torch for the CPU build instead of finding the environment already made.
STAMP       := $(VENV)/.installed$(if $(TORCH_INDEX),-torch-$(TORCH_INDEX))
# The version pinned in requirements.txt, e.g. 2.13.0 (read only when TORCH_INDEX is set).
TORCH_VERSION    = $(shell sed -n 's/^torch==\([0-9][0-9.]*\).*/\1/p' requirements.txt)
TORCH_INDEX_URL := https://download.pytorch.org/whl/$(TORCH_INDEX)
# JupyterLab refuses to start as root without --allow-root.
AS_ROOT     := $(shell [ "$$(id -u 2>/dev/null)" = 0 ] && echo yes)

.PHONY: help lab test run benchmark teacher pipeline text-teacher text-sweep lm-teacher lm-sweep clean handouts browser-test student grade

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed, found " + sys.version)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip $(PIP_ARGS)
ifneq ($(TORCH_INDEX),)
	@test -n "$(TORCH_VERSION)" || { echo "TORCH_INDEX=$(TORCH_INDEX): no torch==X.Y.Z line in requirements.txt"; exit 1; }
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) "torch==$(TORCH_VERSION)+$(TORCH_INDEX)" --index-url $(TORCH_INDEX_URL)
endif
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -r requirements.txt -e .
	@touch $@

## Open the workbook in JupyterLab (the main job): the repository is served, notebooks/ opens first.
lab: $(STAMP)
ifeq ($(AS_ROOT),yes)
	@echo "make lab: running as root, so adding --allow-root (JupyterLab refuses to start as root without it)"
endif
	$(BIN)/jupyter lab --ServerApp.root_dir=. --ContentsManager.preferred_dir=notebooks $(if $(AS_ROOT),--allow-root) $(LAB_ARGS)

## Run every test: unit tests, then every notebook under nbval and papermill.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope

## Only the browser tests: each widget notebook in JupyterLab in headless Chromium (apt-get install chromium).
browser-test: $(STAMP)
	$(BIN)/python -m pytest -m browser tests/browser

## Execute every notebook headless into build/ and print a table of timings.
run: $(STAMP)
	$(BIN)/python tools/run_notebooks.py

## Handouts: each executed notebook as one offline HTML file and a PDF in build/handouts/ (NB="02 04", SRC=release).
handouts: $(STAMP)
	$(BIN)/python tools/handouts.py $(NB) $(if $(SRC),--src $(SRC))

## The student release in release/ (OUT=dir): reference solutions replaced by their stubs, outputs cleared.
student: $(STAMP)
	$(BIN)/python tools/release.py --out $(or $(OUT),release)

## Grade a class: SUBMISSIONS=dir (dir/<student>/NN_topic.ipynb) -> grades.csv, report.html in build/grades/.
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "make grade: say which folder, e.g. make grade SUBMISSIONS=submissions (one folder per student)"; exit 2; }
	$(BIN)/python tools/grade.py "$(SUBMISSIONS)" $(if $(OUT),--out "$(OUT)") $(GRADE_ARGS)

## Print the speed figures with their spread (1-2 minutes; FULL=1: the long run, 10-15 minutes).
benchmark: $(STAMP)
	$(BIN)/python tools/benchmark.py $(if $(filter 1 yes true,$(FULL)),--full)

## Retrain the teacher and overwrite data/teacher_mlp.pt.
teacher: $(STAMP)
	$(BIN)/python -m distill_lib.teacher

## Rebuild notebook 06's cached sweep (every compressed model over seeds) in data/pipeline_sweep.pt.
pipeline: $(STAMP)
	$(BIN)/python -m distill_lib.compression

## Rebuild notebook 09's teacher cache, data/text_teacher.pt (MiniLM over every gloss: about 7 minutes on two cores).
text-teacher: $(STAMP)
	$(BIN)/python -m distill_lib.text.teacher

## Rebuild notebook 09's cached sweep, data/text_sweep.pt (150 students on two processes: 54 minutes here).
text-sweep: $(STAMP)
	$(BIN)/python -m distill_lib.text.sweep

## Retrain notebook 10's character-level teacher into data/lm_teacher.pt (about an hour on two cores).
lm-teacher: $(STAMP)
	$(BIN)/python -m distill_lib.lm.teacher --threads 2

## Notebook 10's experiment (2 students x 4 arms x 4 seeds, about 45 minutes on 2 cores) -> data/lm_sweep.pt.
lm-sweep: $(STAMP)
	$(BIN)/python -m distill_lib.lm.sweep

## Remove .venv/, build/ and the caches.
clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

## Print the commands and their options.
help:
	@grep -E '^## |^[a-z-]+:' Makefile | sed -n 'N;s/^## \(.*\)\n\([a-z-]*\):.*/  make \2\t\1/p' | expand -t 22
	@echo
	@sed -n '/^# Options/,/^#   PYTHON/p' Makefile | sed 's/^# \{0,1\}//'
