# clauseguard — `make demo` and `make test` each create .venv if it is missing and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= build/demo
EXTRAS ?= dev,docx,ml,image,server,eval,diffusers,presidio,guardrails,gradio
# PyPI's Linux torch is the CUDA build (with GBs of nvidia-* wheels); the CPU build (2.13.0+cpu, which
# pip prefers to 2.13.0) is on PyTorch's index. TORCH_INDEX= (empty) installs from the usual indexes only.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test lint docs bench clean

# torch first, pinned to the CPU build: the extras' requirements (sentence-transformers) would pull the CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(PY) -m pip install -q torch==2.13.0  # its dependencies, from the usual indexes
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/clauseguard generate examples/chat-assistant/profile.yaml -o $(DEMO_OUT) --force
	@echo "Documents, guards.yaml and report.json are in $(DEMO_OUT)/"
	$(VENV)/bin/clauseguard check --guards $(DEMO_OUT)/guards.yaml --jsonl examples/chat-assistant/samples.jsonl

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

docs: $(STAMP)
	$(VENV)/bin/clauseguard catalogue -o docs/reference/clauses.md
	$(VENV)/bin/mkdocs build --strict -d build/site

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf build dist $(VENV) .pytest_cache
