# Every target sets itself up: a fresh clone with Python 3.11 and pip needs nothing else.
# The virtual environment lives in .venv and holds exactly the versions in requirements.lock.

# Set-up's interpreter: PYTHON=... if given, else the first of python3.11 and python3 that runs.
# Python 3.11 is the version tested (requires-python in pyproject.toml; the stored outputs).
PYTHON ?=
SUPPORTED_PYTHON := 3.11
# Linux without a GPU: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu installs torch from
# PyTorch's CPU wheel index instead of PyPI, whose Linux build pulls gigabytes of CUDA libraries.
# The index is added for the torch install only; the version is the locked one either way.
TORCH_INDEX_URL ?=
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Notebooks are executed and tested without progress bars, so stored outputs hold no timings.
export RNNCOURSE_NO_PROGRESS := 1
# One thread per process, so float results do not depend on the machine's core count and
# the two pytest workers (-n 2) do not oversubscribe the cores: the course's matrices are
# small, and with more threads than cores they run many times slower.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

# --dist loadfile keeps each notebook's cells on one worker, in order.
PYTEST_PARALLEL := -n 2 --dist loadfile
NBVAL_FLAGS := --nbval --nbval-current-env --nbval-cell-timeout=300 \
               --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help venv test unit book lab refresh refresh-all clean distclean exercises grade grade-batch bench charlm

help:
	@echo "make book     build the HTML book into _build/html"
	@echo "make test     unit tests, grading tests and nbval over every chapter"
	@echo "make lab      open JupyterLab (chapters/ and exercises/) in the course environment"
	@echo "make refresh NB=chapters/01_sequences.ipynb   re-execute one notebook in place"
	@echo "make clean    remove build output (keeps .venv; 'make distclean' removes it too)"
	@echo "make exercises   build every exercise set (student notebooks in exercises/)"
	@echo "make bench    time the fastest from-scratch RNN against torch.nn.RNN"
	@echo "make charlm   train chapter 7's character model of Shakespeare for 120 s (both cores)"
	@echo "make grade NB=exercises/01_sequences_are_not_iid.ipynb   grade one notebook"
	@echo "make grade-batch SET=01_sequences_are_not_iid DIR=submissions/ OUT=results/   grade a folder"

# "NAME VERSION" of the first of $(PYTHON), or of python3.11 and python3, that runs.
found_python = $(shell for py in $(or $(PYTHON),python3.11 python3); do \
    v=$$("$$py" --version 2>&1) && { set -- $$v; echo "$$py $$2"; break; }; done)
python_name = $(word 1,$(_found))
python_version = $(word 2,$(_found))
refusal = Set-up needs Python $(SUPPORTED_PYTHON), the version tested, but \
    $(if $(_found),$(python_name) is Python $(python_version),$(if $(PYTHON),PYTHON=$(PYTHON) \
    does not run,neither python3.11 nor python3 runs)). Pass another interpreter: \
    make PYTHON=/path/to/python$(firstword $(SUPPORTED_PYTHON)) $(or $(MAKECMDGOALS),venv)
# That interpreter if its version is supported; otherwise make stops with the refusal.
checked_python = $(eval _found := $(found_python))$(if \
    $(filter $(SUPPORTED_PYTHON),$(basename $(python_version))),$(python_name),$(error $(refusal)))

# .venv exists only once set-up has finished (.venv/.installed): a failed step removes it, and
# one left half-made by an interrupted run is removed first, so every attempt starts clean.
$(STAMP): pyproject.toml requirements.lock
	@if [ -d $(VENV) ] && [ ! -f $(STAMP) ]; then \
	    echo "Removing $(VENV), left half-made by an earlier set-up"; rm -rf $(VENV); fi
	@$(MAKE) --no-print-directory venv-install \
	    $(if $(wildcard $(STAMP)),,NEW_VENV_PYTHON=$(checked_python)) || { rm -rf $(VENV); \
	    echo "Set-up failed, $(VENV) removed: fix the error above and run make again" >&2; exit 1; }

# The steps of set-up, run by the rule above (not meant to be called by itself).
.PHONY: venv-install
venv-install:
	$(if $(NEW_VENV_PYTHON),$(NEW_VENV_PYTHON) -m venv $(VENV))
	$(if $(TORCH_INDEX_URL),$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	    -c requirements.lock --extra-index-url $(TORCH_INDEX_URL) torch)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	    -c requirements.lock -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# The browser test (tests/test_book_in_browser.py) runs where Chromium is installed and is
# skipped, with its reason in the summary, where it is not; .ci/run installs it first.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) rnncourse tests chapters $(NBVAL_FLAGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" rnncourse tests

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

lab: $(STAMP)
	$(BIN)/jupyter lab .

refresh: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make refresh NB=chapters/NAME.ipynb"; exit 2; }
	$(BIN)/python tools/execute_notebook.py $(NB)

refresh-all: $(STAMP)
	for nb in chapters/*.ipynb; do $(BIN)/python tools/execute_notebook.py $$nb || exit 1; done

# Exercise sets (otter-grader): see exercises/README.md.
exercises: $(STAMP)
	$(BIN)/python tools/grading.py build $(if $(SET),--set $(SET))

# Limits (exercises/GRADING.md): seconds per notebook, per cell, per call of learner code by the
# tests; MiB of address space for the notebook's process.
TIMEOUT ?= 300
CELL_TIMEOUT ?= 60
CHECK_TIME_LIMIT ?= 30
MEMORY_MB ?= 4096
GRADE_LIMITS = --timeout $(TIMEOUT) --cell-timeout $(CELL_TIMEOUT) \
               --check-time-limit $(CHECK_TIME_LIMIT) --memory-mb $(MEMORY_MB)
grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make grade NB=path/to/notebook.ipynb [TIMEOUT=300] [CELL_TIMEOUT=60] [MEMORY_MB=4096]"; exit 2; }
	$(BIN)/python tools/grading.py grade "$(NB)" $(GRADE_LIMITS)

grade-batch: $(STAMP)
	@test -n "$(SET)" -a -n "$(DIR)" -a -n "$(OUT)" || { echo "usage: make grade-batch SET=NAME DIR=submissions/ OUT=results/ [JOBS=2] [FORCE=1]"; exit 2; }
	$(BIN)/python tools/grading.py batch "$(DIR)" --set "$(SET)" --out "$(OUT)" $(GRADE_LIMITS) \
	    $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force)

# Benchmark (not a test): the course's fastest from-scratch RNN against torch.nn.RNN and a
# plain loop, N=64 L=100 H_in=128 H=256 float32 forward+backward, on both cores.
bench: $(STAMP)
	$(BIN)/python -m rnncourse.bench --threads 2

# Not a test: chapter 7's best recurrent character model of tiny Shakespeare, trained for
# 120 s on both cores; the last line is val_loss_nats=... seconds=... steps=... seconds_to_1.886=...
charlm: $(STAMP)
	$(BIN)/python tools/charlm.py --threads 2

clean:
	rm -rf _build .pytest_cache conf.py

distclean: clean
	rm -rf $(VENV)
