# Two entry points (see README): `make chat` and `make test`. Both install everything first.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860
APT    ?= $(if $(filter 0,$(shell id -u)),,sudo) DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install chat lint test test-fast bench clean

# pip takes torch==2.13.0 from the machine's local CPU wheel and caches the llama-cpp-python
# build (it compiles from source, ~13 min the first time on 2 cores).
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v chromium >/dev/null 2>&1 || $(APT) install -y chromium || \
		($(APT) update && $(APT) install -y chromium)  # Debian's Chromium, for the browser tests
	@(command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx spa) || \
		$(APT) install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa || \
		($(APT) update && $(APT) install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa)  # OCR of scans
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

chat: install
	$(BIN)/rag index seeds
	$(BIN)/rag chat --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/python -m pytest

test-fast: install  # the tests that load no model: a minute or two (tests/models/ and tests/stress/ left out)
	$(BIN)/python -m pytest -m "not models and not stress"

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
