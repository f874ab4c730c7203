# Two commands for a newcomer: `make book` builds the website, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SDL_VIDEODRIVER := dummy
# Bytecode: pip installs without compiling (--no-compile, 12,000 files); Python compiles a module the
# first time any process imports it and keeps it in .venv/pycache (about 2,000 modules, 5 s of CPU,
# instead of 15 s on both cores for all of them). Also where PYTHONDONTWRITEBYTECODE is set, which
# would have every process compile torch afresh; nothing is written into the working tree.
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
unexport PYTHONDONTWRITEBYTECODE
# Task 3's recording: taken from $HNNLIB_DATA_DIR, else ../shared/data when it is there (CI),
# else the per-user cache, else downloaded once (checked by sha256). See hnnlib/realdata.py.
ifeq ($(HNNLIB_DATA_DIR),)
ifneq ($(wildcard ../shared/data/real_pend_h_1.txt),)
export HNNLIB_DATA_DIR := $(abspath ../shared/data)
endif
endif

# The website's JavaScript (MathJax, ipywidgets) and the browser test's driver come from npm,
# pinned by web/package-lock.json, installed once by `npm ci` (18 s) and copied into web/static.
WEB := web
WEB_STAMP := $(WEB)/node_modules/.npm-ci-done
WEB_ASSETS := $(WEB)/static/mathjax/tex-chtml.js

.PHONY: help venv lock web test book browser-test jupyterlab-test execute benchmark clean

help:
	@echo "make book       build the website into _build/html (renders the stored, tested notebook outputs)"
	@echo "make lock       re-resolve requirements.txt into requirements.lock (versions + hashes)"
	@echo "make test       hnnlib's unit tests + every notebook under strict nbval"
	@echo "make browser-test  open every page of the built website in headless Chromium (see README.md)"
	@echo "make jupyterlab-test  open chapters in JupyterLab in headless Chromium: stored outputs read finished"
	@echo "make execute    re-run every notebook in place, storing fresh outputs (after changing hnnlib)"
	@echo "make benchmark  wall time and peak memory of training and metrics (see benchmarks/README.md)"

# Installs exactly what requirements.lock pins, every file checked by its sha256 hash.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Re-resolves requirements.txt (the short list of direct dependencies) into requirements.lock:
# exact versions and sha256 hashes of everything, for this platform (see README.md).
lock:
	test -x $(VENV)-lock/bin/pip-compile || { $(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install --quiet pip-tools==7.6.2; }
	$(VENV)-lock/bin/pip-compile --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links \
	  --no-emit-index-url --no-emit-trusted-host --quiet --output-file requirements.lock requirements.txt

test: $(STAMP)
	$(BIN)/python -m pytest

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18 or newer) is needed for the website's offline JavaScript"; exit 1; }
	cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund
	touch $(WEB_STAMP)

$(WEB_ASSETS): $(WEB_STAMP) $(WEB)/copy-assets.mjs $(WEB)/widgets-config.js $(WEB)/book.css
	node $(WEB)/copy-assets.mjs

web: $(WEB_ASSETS)

# Sphinx copies web/static (the CSS, MathJax) only when it rebuilds a page: a newer static file
# alone (an edit of web/book.css) starts the site afresh, so that no stale stylesheet stays.
book: $(STAMP) $(WEB_ASSETS)
	@if [ -f _build/html/index.html ] && [ -n "$$(find $(WEB)/static -newer _build/html/index.html -print -quit)" ]; then \
	  echo "web/static changed: building the site afresh"; rm -rf _build/html _build/.doctrees; fi
	$(BIN)/jupyter-book build -W --keep-going .
	@echo "Open _build/html/index.html"

# Headless Chromium (CHROMIUM=..., default /usr/bin/chromium) loads every page from a local server;
# fails on JavaScript errors, failed or non-local requests, untypeset math, missing figures.
# Full-page screenshots go to _build/browser-test/.
browser-test: book
	PYTHON=$(abspath $(BIN)/python) node $(WEB)/browser-test.mjs

# JupyterLab (from .venv) on a free localhost port, chapters opened in headless Chromium: fails if a
# stored progress bar reads unfinished or a widget shows its repr instead of its text fallback.
jupyterlab-test: $(STAMP) $(WEB_STAMP)
	JUPYTER=$(abspath $(BIN)/jupyter) node $(WEB)/jupyterlab-test.mjs

# Notebooks run with their own folder as working directory; hnnlib is installed editable.
execute: $(STAMP)
	for nb in book/*.ipynb; do \
	  echo "== $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 "$$nb" || exit 1; \
	done

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build .jupyter_cache $(WEB)/static
