# Everything a fresh machine needs: `make run` and `make test` set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP   := $(VENV)/.installed
THREADS ?= 2

.PHONY: run test bench docs notebook setup clean

setup: $(STAMP)

# what `make run` needs: the package, its data packages, gensim (C42's FastText)
$(RUN_STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: the pinned CPU wheel lies on local disk.
	$(BIN)/pip install --quiet torch==2.13.0
	# bible-alignments declares dependencies that conflict with ours: data files only.
	$(BIN)/pip install --quiet --no-deps bible-alignments==0.4.2
	$(BIN)/pip install --quiet -e ".[ledger]"
	touch $(RUN_STAMP)

# everything else the tests exercise: test tools, optional extras, Ray, the docs site
$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e ".[dev,extras,ray,docs]"
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/seqlab reproduce --profile quick --out runs/quick
	$(BIN)/seqlab report runs/quick

test: $(STAMP)
	$(BIN)/python -m pytest

# two programs: benchmarks/bench_recurrent.py, then seqlab bench (both at THREADS threads, into runs/bench)
bench: $(RUN_STAMP)
	mkdir -p runs/bench
	# the recurrent layers at one training shape (B=32, T=256, H=256): cell vs fused vs torch
	$(BIN)/python benchmarks/bench_recurrent.py --threads $(THREADS) --json runs/bench/recurrent.json
	# everything else: machine ceilings, the recurrent grid, scans, attention, models
	$(BIN)/seqlab bench --threads $(THREADS) --out runs/bench

# the documentation site, as HTML, into runs/site (open runs/site/index.html)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir runs/site

# the tutorial: in Jupyter when it is installed (pip install jupyterlab), else run as a script
notebook: $(STAMP)
	@if test -x $(BIN)/jupyter-lab; then \
		$(BIN)/jupytext --to notebook --output notebooks/first_hour.ipynb notebooks/first_hour.py && \
		$(BIN)/jupyter-lab notebooks/first_hour.ipynb; \
	else \
		echo "Jupyter is not installed: running the tutorial as a script (figures go to runs/tutorial)."; \
		echo "For the notebook: $(BIN)/pip install jupyterlab, then make notebook again."; \
		MPLBACKEND=Agg $(BIN)/python notebooks/first_hour.py; \
	fi

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
