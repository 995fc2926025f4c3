# Everything a fresh machine needs: `make run` and `make test` set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
THREADS ?= 2

.PHONY: run test bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: the pinned CPU wheel lies on local disk.
	$(BIN)/pip install --quiet torch==2.13.0
	# bible-alignments declares dependencies that conflict with ours: data files only.
	$(BIN)/pip install --quiet --no-deps bible-alignments==0.4.2
	$(BIN)/pip install --quiet -e ".[dev,extras,ray]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/seqlab reproduce --profile quick --out runs/quick
	$(BIN)/seqlab report runs/quick

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	mkdir -p runs/bench
	# the recurrent layers at one training shape (B=32, T=256, H=256): cell vs fused vs torch
	$(BIN)/python benchmarks/bench_recurrent.py --threads $(THREADS) --json runs/bench/recurrent.json
	# everything else: machine ceilings, the recurrent grid, scans, attention, models
	$(BIN)/seqlab bench --threads $(THREADS) --out runs/bench

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
