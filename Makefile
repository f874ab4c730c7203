# Two commands for a newcomer: `make book` builds the website, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SDL_VIDEODRIVER := dummy
# Task 3's recording: taken from $HNNLIB_DATA_DIR, else ../shared/data when it is there (CI),
# else the per-user cache, else downloaded once (checked by sha256). See hnnlib/realdata.py.
ifeq ($(HNNLIB_DATA_DIR),)
ifneq ($(wildcard ../shared/data/real_pend_h_1.txt),)
export HNNLIB_DATA_DIR := $(abspath ../shared/data)
endif
endif

.PHONY: help venv test book execute benchmark clean

help:
	@echo "make book       build the website into _build/html (renders the stored, tested notebook outputs)"
	@echo "make test       hnnlib's unit tests + every notebook under strict nbval"
	@echo "make execute    re-run every notebook in place, storing fresh outputs (after changing hnnlib)"
	@echo "make benchmark  wall time and peak memory of training and metrics (see benchmarks/README.md)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

book: $(STAMP)
	$(BIN)/jupyter-book build -W --keep-going .
	@echo "Open _build/html/index.html"

# Notebooks run with their own folder as working directory; hnnlib is installed editable.
execute: $(STAMP)
	for nb in book/*.ipynb; do \
	  echo "== $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 "$$nb" || exit 1; \
	done

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build .jupyter_cache
