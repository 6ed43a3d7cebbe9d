# Thin wrappers around the project's console entry points. Each target sets up the
# virtual environment in .venv first (once; again when pyproject.toml changes).
#   make export      train if needed, convert, verify, write models/
#   make test        the test suite
#   make train       train the LSTM with the default recipe (ARGS="--arch gru" etc. to change)
#   make train-all   retrain every committed run in runs/ (four architectures + the lesson; the
#                    relatives keep the earlier recipe: 20 epochs, no styles, no elastic)
#   make bench       the full benchmark report (benchmarks/reports/)
#   make bench-edge  the TensorFlow-free part of the report (runs on a Raspberry Pi)
#   make lint        ruff's linter and formatter check (configured in pyproject.toml)
#   make serve       digits-edge serve on http://127.0.0.1:8000/ (ARGS="--source 0" etc.)
#   make setup-browser  Debian's chromium + chromium-driver for the browser tests (as root, once)
#   make pi-check    every shipped model and the edge program on emulated arm64 (root; README)
#   make setup-pi-check  Debian's qemu-user-static, binfmt-support, debootstrap for pi-check (root, once)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PHOTOS ?= $(DIGITS_PHOTOS_DIR)

.PHONY: setup setup-edge setup-browser setup-pi-check setup-valgrind train train-all export test lint bench bench-edge eval serve pi-check clean

setup: $(VENV)/.installed-dev
setup-edge: $(VENV)/.installed-edge

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-edge

$(VENV)/.installed-edge: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

train: setup
	$(PY) -m training $(ARGS)

train-all: setup
	$(PY) -m training --arch lstm
	$(PY) -m training --arch lstm --no-augment --epochs 24 --out runs/lstm_plain
	$(PY) -m training --arch lstm --units 128 --elastic 0.5 --epochs 30 --out runs/lstm_128
	$(PY) -m training --arch gru --recipe shipped
	$(PY) -m training --arch rnn --recipe shipped
	$(PY) -m training --arch peephole --recipe shipped
	$(PY) -m training --recipe lesson

# Score the edge program on a folder of labelled photos (labels.json beside them).
eval: setup-edge
	$(PY) -m edge_runtime.evaluate $(PHOTOS) $(ARGS)

export: setup
	$(PY) -m export $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

serve: setup
	$(PY) -m edge_runtime serve $(ARGS)

# The browser tests drive the system's Chromium through its chromedriver (apt packages; nothing
# downloads a browser of its own). Idempotent: does nothing when both are installed.
setup-browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		echo "chromium and chromedriver are installed"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

# valgrind's callgrind counts the instructions of a frame's read (benchmarks/instructions.py and
# its test). Idempotent: does nothing when it is installed.
setup-valgrind:
	@if command -v valgrind >/dev/null; then \
		echo "valgrind is installed"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; \
	fi

bench: setup
	$(PY) -m benchmarks $(ARGS)

bench-edge: setup-edge
	$(PY) -m benchmarks --edge-only $(ARGS)

# Debian Bookworm arm64 under qemu-user (Raspberry Pi OS's base), compared with this machine.
# Needs root and apt-get install qemu-user-static binfmt-support debootstrap; PI_CHECK_SKIP=1
# turns "cannot run here" into a skip. The root file system is cached outside the clone (PI_CHECK_CACHE).
# Debian's emulator, binfmt hook and bootstrapper for make pi-check (as root, once).
setup-pi-check:
	@if command -v debootstrap >/dev/null && command -v qemu-aarch64-static >/dev/null && command -v update-binfmts >/dev/null; then \
		echo "debootstrap, qemu-user-static and binfmt-support are installed"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap; \
	fi

pi-check: setup
	benchmarks/arm64/pi-check.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
