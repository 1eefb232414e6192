# latent-geometry: `make test` and `make book` are the two commands of the README.
# Both set up .venv (pinned requirements) and the data first, and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Free space the venv install needs (GiB): torch 2.14.1's x86_64 wheel brings CUDA libraries.
VENV_GIB ?= 8
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)
DATA_STAMP := data/FashionMNIST/raw/.ready
export LATENTGEOM_HOME := $(CURDIR)
# Two cores: keep torch from oversubscribing when tests or notebooks run.
export OMP_NUM_THREADS ?= 2
export PYTHONHASHSEED := 0

.PHONY: setup data test book bench notebook serve clean clean-cache

# The venv (re-installed when requirements.txt or pyproject.toml change), then the system
# packages: Chromium + chromedriver for the site check (quick no-op when present).
setup: $(STAMP)
	@bash scripts/setup-system.sh

# The disk check first: a full disk otherwise fails deep inside pip's copy of torch.
$(STAMP):
	@test -x $(PY) || bash scripts/check-disk.sh $(dir $(abspath $(VENV))) $(VENV_GIB)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-build-isolation --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

data: $(DATA_STAMP)

$(DATA_STAMP): | $(STAMP)
	PY=$(PY) bash scripts/get-data.sh

# The linter first (seconds; configured in pyproject.toml), then the test suite in one worker
# process per core (pytest-xdist; a test module stays on one worker, so its module-scoped
# fixtures are built once), each on one torch thread: two workers with two threads each
# oversubscribe 2 cores (11 min), one thread each takes 5 min against 9 for one process.
test: setup data
	$(PY) -m ruff check lib tests bench scripts _ext
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n auto --dist loadfile

book: setup data
	$(PY) scripts/build_book.py

# The estimators (with a profile's forward passes), then the training loop: tables and
# results/bench/*.json. BENCH_ARGS go to both (e.g. --quick).
bench: setup data
	$(PY) bench/bench_estimators.py $(BENCH_ARGS)
	$(PY) bench/bench_training.py $(BENCH_ARGS)

# Preview the built site on this machine: http://127.0.0.1:$(PORT)/ (loopback only).
PORT ?= 8000
serve:
	$(PY) scripts/serve.py --port $(PORT)

# Run one notebook through papermill: make notebook NB=book/findings/profile-shape.md ARGS="-p preset paper"
notebook: setup data
	$(PY) scripts/run_notebook.py $(NB) $(ARGS)

clean:
	rm -rf _build results

clean-cache:
	rm -rf .cache/models

# Train and profile everything the book's pages need, ahead of the book: on Slurm when a
# controller answers, else on local processes (README, "Sweeps"). Cached work is skipped.
#   make sweep PRESET=paper ARGS="--partition gpu --gpus-per-job 1 --time-limit 720"
PRESET ?= default
.PHONY: sweep
sweep: setup data
	$(PY) -m latentgeom sweep --preset $(PRESET) $(ARGS)
