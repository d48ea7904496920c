# gpusettle: every target bootstraps what it needs (venv, npm packages, compiler) and is idempotent.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := .bootstrap

# brownie finds anvil and solc-js through PATH; py-solc-x finds the compiler through SOLCX_BINARY_PATH
# (empty when a native solc could be installed, see tools/select_solc.py).
RUN = export PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH"; \
      solc_path="$$(cat $(STAMP)/solc-path)"; \
      if [ -n "$$solc_path" ]; then export SOLCX_BINARY_PATH="$$solc_path"; fi;

FUZZ_EXAMPLES ?= 200
# What `make test` runs; narrow it while working (e.g. `make test TESTS=tests/unit/JobEscrow`).
TESTS ?= tests/

.PHONY: help setup compile test fuzz gas bench demo audit typecheck networks clean

help:
	@echo "make setup     create .venv (gpusettle with its dev and test extras), npm packages, the compiler"
	@echo "make compile   compile the contracts with brownie and refresh gpusettle/abi"
	@echo "make demo      run a GPU job end to end on a local chain and settle it"
	@echo "               KEEP=1 keeps its work directory and logs (a failed run always keeps them);"
	@echo "               EXPLORE=1 keeps anvil, the index and the explorer over its chain running until Ctrl-C;"
	@echo "               DEMO_ARGS='--n 512 --repetitions 10' sizes the job"
	@echo "make test      bootstrap, compile and run every test, in two halves side by side, each on its own"
	@echo "               chain (TEST_PORT and TEST_PORT2; logs in reports/); TESTS=tests/<dir> narrows it"
	@echo "make fuzz      the stateful fuzzers with 5,000 examples each"
	@echo "make gas       measure gas per path, print the table, write gas-snapshot.json"
	@echo "make bench     receipt verification throughput and oracle figures"
	@echo "make typecheck mypy --strict on the gpusettle package"
	@echo "make audit     slither (all detectors) + slither-check-erc on the contracts; fails on unexplained high/medium"
	@echo "make networks  add the public test networks (Sepolia, Base Sepolia, Arbitrum Sepolia) to brownie's config"
	@echo "make clean     remove build/, reports/ and the bootstrap stamps (the venv and npm packages stay)"

$(STAMP)/venv: pyproject.toml constraints.txt
	@mkdir -p $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,test]'
	@touch $@

# Client programs run in a bubblewrap sandbox; the worker's tests use the real one.
$(STAMP)/bwrap:
	@mkdir -p $(STAMP)
	@command -v bwrap >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 install -y bubblewrap >/dev/null 2>&1 || \
		{ apt-get update >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y bubblewrap >/dev/null; } || \
		$(if $(filter 0,$(shell id -u)),false,sudo apt-get install -y bubblewrap); }
	@touch $@

$(STAMP)/npm: package.json package-lock.json
	@mkdir -p $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMP)/solc-path: $(STAMP)/venv $(STAMP)/npm tools/select_solc.py
	$(BIN)/python tools/select_solc.py > $@.tmp && mv $@.tmp $@

setup: $(STAMP)/venv $(STAMP)/npm $(STAMP)/solc-path $(STAMP)/bwrap

compile: setup
	@$(RUN) brownie compile && python -m gpusettle.chain.export_abi

# brownie's stock development network caps blocks at 12M gas; ours matches mainnet's 30M (batches of 100
# settlements and the griefing tests need it). Re-registered on every run: it lives in ~/.brownie.
# The chain the brownie tests run on; override both to run two suites side by side on one machine
# (e.g. `make test TEST_NETWORK=gpusettle-dev2 TEST_PORT=8555`).
TEST_NETWORK ?= gpusettle-dev
TEST_PORT ?= 8545
# The full suite runs in two halves side by side (tools/test_halves.sh); the second half's chain.
TEST_NETWORK2 ?= $(TEST_NETWORK)-2
TEST_PORT2 ?= $(shell expr $(TEST_PORT) + 1)
# $(call register_network,NAME,PORT)
define register_network
	-@$(RUN) brownie networks delete $(1) >/dev/null 2>&1
	@$(RUN) brownie networks add Development $(1) cmd=anvil host=http://127.0.0.1 port=$(2) \
		accounts=10 gas_limit=30000000 chain_id=31337 base_fee=0 >/dev/null
endef
register_test_network = $(call register_network,$(TEST_NETWORK),$(TEST_PORT))

# pytest exits 5 when it collected no test; NO_TESTS_OK=1 (.ci/run) reports that and succeeds, so a
# narrowed run that matches nothing is not mistaken for a failing suite.
# The whole of tests/ runs as two halves side by side, each on its own chain, with its own log and JUnit
# file under reports/ (tools/test_halves.sh); a narrowed TESTS runs in one process.
NO_TESTS_OK ?=
test: compile typecheck
	$(register_test_network)
ifeq ($(patsubst %/,%,$(strip $(TESTS))),tests)
	$(call register_network,$(TEST_NETWORK2),$(TEST_PORT2))
	@$(RUN) GPUSETTLE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NO_TESTS_OK=$(NO_TESTS_OK) \
		tools/test_halves.sh $(TEST_NETWORK) $(TEST_NETWORK2)
else
	@$(RUN) GPUSETTLE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) brownie test $(TESTS) -p no:cacheprovider --network $(TEST_NETWORK); \
	status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "pytest collected no test in $(TESTS) (exit 5)"; \
		if [ -n "$(NO_TESTS_OK)" ]; then exit 0; fi; \
	fi; \
	exit $$status
endif

fuzz: compile
	$(register_test_network)
	@marker=$$(mktemp); tools/anvil_sweep.sh start "$$marker"; \
	$(RUN) GPUSETTLE_FUZZ_EXAMPLES=5000 brownie test tests/stateful -m stateful -p no:cacheprovider --network $(TEST_NETWORK); \
	status=$$?; tools/anvil_sweep.sh end "$$marker"; exit $$status

gas: compile
	@$(RUN) brownie run scripts/gas_report.py --silent

bench: compile
	@$(RUN) python -m gpusettle.bench

# KEEP=1 keeps the demo's work directory (logs, stores, keystores) after a successful run too;
# EXPLORE=1 leaves the explorer over the demo chain running until Ctrl-C.
KEEP ?=
EXPLORE ?=
DEMO_ARGS ?=
demo: compile
	@$(RUN) python -m gpusettle.demo $(if $(filter-out 0 no false,$(KEEP)),--keep) \
		$(if $(filter-out 0 no false,$(EXPLORE)),--explore) $(DEMO_ARGS)

# brownie reads live network definitions only from ~/.brownie/network-config.yaml; add ours there.
networks: setup
	-@$(RUN) brownie networks add Ethereum gpusettle-sepolia host='$$SEPOLIA_RPC_URL' chainid=11155111 explorer=https://api-sepolia.etherscan.io/api
	-@$(RUN) brownie networks add Ethereum gpusettle-base-sepolia host='$$BASE_SEPOLIA_RPC_URL' chainid=84532
	-@$(RUN) brownie networks add Ethereum gpusettle-arbitrum-sepolia host='$$ARBITRUM_SEPOLIA_RPC_URL' chainid=421614

audit: setup
	@$(RUN) tools/audit/run.sh

typecheck: setup
	@$(BIN)/mypy --no-error-summary && echo "mypy --strict: gpusettle is clean"

clean:
	rm -rf build reports $(STAMP)
