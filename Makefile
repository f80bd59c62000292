# The README's two commands: `make demo` and `make test`. Each creates .venv/ and installs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint format benchmark-tdc benchmark-tdc-quick benchmark-federated benchmark-federated-quick benchmark-throughput benchmark-throughput-quick benchmark-external benchmark-external-quick benchmark-external-shares benchmark-design benchmark-design-quick benchmark-clinical benchmark-clinical-quick benchmark-campaigns benchmark-campaigns-quick benchmark-features benchmark-generalise benchmark-generalise-quick benchmark-generalise-graph benchmark-user-test default-model clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-model.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fedadmet needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# PyTorch first and pinned: on these machines torch==2.13.0 resolves to a local CPU build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# The model libraries at the bundled model's versions (constraints-model.txt): a retrain reproduces it.
	$(BIN)/python -m pip install --quiet -c constraints-model.txt -e ".[dev]"
	# The design benchmark's PMO oracles (the `bench` extra), without their requirements: those would pull
	# rdkit-pypi 2022 beside RDKit, and FCD. Installed here so that their tests run wherever `make test` does.
	$(BIN)/python -m pip install --quiet --no-deps guacamol==0.5.5
	touch $(STAMP)

# The tour, then the web page and API on 127.0.0.1 with the default model (Ctrl+C stops it).
demo: $(STAMP)
	$(BIN)/fedadmet demo
	$(BIN)/fedadmet serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks read ../shared/data (or --data-dir); results go to benchmarks/results/.
benchmark-tdc: $(STAMP)
	$(BIN)/python -m benchmarks.tdc.run

benchmark-tdc-quick: $(STAMP)
	$(BIN)/python -m benchmarks.tdc.run --quick

benchmark-federated: $(STAMP)
	$(BIN)/python -m benchmarks.federated.run

benchmark-federated-quick: $(STAMP)
	$(BIN)/python -m benchmarks.federated.run --quick

benchmark-throughput: $(STAMP)
	$(BIN)/python -m benchmarks.throughput.run

benchmark-throughput-quick: $(STAMP)
	$(BIN)/python -m benchmarks.throughput.run --quick

benchmark-external: $(STAMP)
	$(BIN)/python -m benchmarks.external.run

benchmark-external-quick: $(STAMP)
	$(BIN)/python -m benchmarks.external.run --quick

benchmark-external-shares: $(STAMP)  # the served model's parts in other blend shares, on the same external sets
	$(BIN)/python -m benchmarks.external.shares

benchmark-design: $(STAMP)
	$(BIN)/python -m benchmarks.design.run --workers 2

benchmark-design-quick: $(STAMP)
	$(BIN)/python -m benchmarks.design.run --quick

benchmark-clinical: $(STAMP)
	$(BIN)/python -m benchmarks.clinical.run

benchmark-clinical-quick: $(STAMP)
	$(BIN)/python -m benchmarks.clinical.run --quick

benchmark-campaigns: $(STAMP)  # the committed results: these three (the later two resume from the cache; the last timed the 10k round)
	nice -n 10 $(BIN)/python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 80
	nice -n 10 $(BIN)/python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 6
	nice -n 10 $(BIN)/python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 10

benchmark-campaigns-quick: $(STAMP)
	$(BIN)/python -m benchmarks.campaigns.run --quick

benchmark-features: $(STAMP)
	$(BIN)/python -m benchmarks.features.run

benchmark-generalise: $(STAMP)
	$(BIN)/python -m benchmarks.generalise.run

benchmark-generalise-quick: $(STAMP)
	$(BIN)/python -m benchmarks.generalise.run --quick

# A chemprop D-MPNN member (in ADMET-AI's environment) blended with the served model, on ExpansionRx and ASAP.
benchmark-generalise-graph: $(STAMP)  # chemprop's D-MPNN, then fedadmet's own (generalise_graph_fedadmet.*)
	$(BIN)/python -m benchmarks.generalise.graph
	$(BIN)/python -m benchmarks.generalise.graph --member fedadmet

benchmark-user-test: $(STAMP)
	$(BIN)/python -m benchmarks.user_test.run

# Re-creates the bundled default model from the bundled public data (the served recipe).
default-model: $(STAMP)
	$(BIN)/fedadmet train --output fedadmet/resources/default_model

clean:
	rm -rf $(VENV) .fedadmet .pytest_cache .ruff_cache

.PHONY: benchmark-properties
benchmark-properties: $(STAMP)
	$(BIN)/python -m benchmarks.properties.run
