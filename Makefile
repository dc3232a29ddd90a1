# groundwork.platform — the two commands that matter:
#   make lab    set everything up and run the whole platform on local test hosts
#   make test   lint, sanity, unit tests, mirror smoke test and every molecule scenario
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv engine images mirror mirror-serve lab lab-down test lint sanity unit molecule build-collection bench-deps drill report

help:
	@echo "make lab       set up everything and bring up the whole platform on local test hosts"
	@echo "make lab-down  remove the lab hosts"
	@echo "make test      lint, sanity, unit, mirror smoke and molecule tests (what CI runs)"
	@echo "make mirror    build the artifact mirror (no-op when current)"
	@echo "make molecule SCENARIO=name   run one molecule scenario"
	@echo "make drill     the chaos drill on the running lab (DRILL_ARGS='--events ... --rerun'); build/benchmarks/drill.json"
	@echo "make report    docs/platform-report.md and its plots from the drill's results"

venv:
	@bash scripts/venv.sh
	@bash scripts/collection-link.sh

engine:
	@bash scripts/engine.sh

images: engine
	@bash scripts/images.sh

mirror: venv
	@bash scripts/mirror/build.sh

mirror-serve: mirror
	@bash scripts/mirror/serve.sh start

lab: venv images mirror-serve
	@bash scripts/lab.sh up

lab-down: venv
	@bash scripts/lab.sh down

# the benchmark scripts' own packages (matplotlib, the MinIO and Kafka clients) in the project's venv
bench-deps: venv
	@.venv/bin/pip install -q -r benchmarks/requirements.txt

# on the running lab (make lab): bounded load on every tier while hosts, processes and the network break
drill: bench-deps
	@.venv/bin/python benchmarks/drill.py $(DRILL_ARGS)

report: bench-deps
	@.venv/bin/python benchmarks/report.py $(REPORT_ARGS)

test: venv images
	@bash scripts/test.sh $(STAGES)

lint: venv
	@bash scripts/test.sh lint

sanity: venv
	@bash scripts/test.sh sanity

unit: venv
	@bash scripts/test.sh unit

molecule: venv images
	@bash scripts/test.sh molecule $(SCENARIO)

build-collection: venv
	@bash scripts/test.sh build
