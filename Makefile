# groundwork.platform — the two commands that matter:
#   make lab    set everything up and run the whole platform on local test hosts
#   make test   lint, sanity, unit tests, mirror smoke test and every molecule scenario
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv engine images mirror mirror-serve lab lab-down test lint sanity unit molecule build-collection

help:
	@echo "make lab       set up everything and bring up the whole platform on local test hosts"
	@echo "make lab-down  remove the lab hosts"
	@echo "make test      lint, sanity, unit, mirror smoke and molecule tests (what CI runs)"
	@echo "make mirror    build the artifact mirror (no-op when current)"
	@echo "make molecule SCENARIO=name   run one molecule scenario"

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
