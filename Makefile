# Two entry points (see README): `make chat` and `make test`. Both install everything first.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860
APT    ?= $(if $(filter 0,$(shell id -u)),,sudo) DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install chat lint test test-fast bench clean

# pip takes torch==2.13.0 from the machine's local CPU wheel. llama-cpp-python compiles from source
# (~10 min on 2 cores) for the instruction sets this CPU lists, but never AMX: a virtual machine can
# list AMX without letting a process use it, and llama.cpp's AMX kernels then die with SIGILL at the
# first product (seen on these machines with -march=native). --no-cache-dir: a wheel cached by an
# earlier -march=native build would otherwise be reused.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has = $(if $(filter $(1),$(CPU_FLAGS)),ON,OFF)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=$(call has,avx) -DGGML_AVX2=$(call has,avx2) \
	-DGGML_FMA=$(call has,fma) -DGGML_F16C=$(call has,f16c) -DGGML_BMI2=$(call has,bmi2) \
	-DGGML_AVX_VNNI=$(call has,avx_vnni) -DGGML_AVX512=$(call has,avx512bw) \
	-DGGML_AVX512_VBMI=$(call has,avx512vbmi) -DGGML_AVX512_VNNI=$(call has,avx512_vnni) \
	-DGGML_AVX512_BF16=$(call has,avx512_bf16) -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v chromium >/dev/null 2>&1 || $(APT) install -y chromium || \
		($(APT) update && $(APT) install -y chromium)  # Debian's Chromium, for the browser tests
	@(command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx spa) || \
		$(APT) install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa || \
		($(APT) update && $(APT) install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa)  # OCR of scans
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --no-cache-dir --no-binary llama-cpp-python \
		"llama-cpp-python[server]==0.3.36"
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
