# pachmedia: `make demo` and `make test` set up whatever is missing, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system venv npm test demo bench images deploy clean s3-conformance

setup: system venv npm

system:
	@PYTHON=$(PYTHON) bash scripts/setup-system.sh

venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[test]'
	@touch $@

npm: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: setup
	$(BIN)/pytest -q

demo: setup
	$(BIN)/pachmedia demo

bench: setup
	$(BIN)/python -m tests.bench

# ceph/s3-tests (4c8bbbef) with Pachyderm's selection against a real gateway over a fresh home:
# make s3-conformance S3TESTS_DIR=/path/to/s3-tests   (report in build/s3-conformance/report.md)
s3-conformance: venv
	$(BIN)/python -m tests.s3conformance $(if $(S3TESTS_DIR),--suite $(S3TESTS_DIR))

images:
	@bash scripts/build-images.sh

deploy: venv
	$(BIN)/pachmedia deploy $(if $(PACHD_ADDRESS),--pachd $(PACHD_ADDRESS))

clean:
	rm -rf $(VENV) .pytest_cache
