# dokku-postgres-upgrade: build, lint and test. `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

# Every bash file of the repo (by its first line), outside build and cache folders.
BASH_FILES = $(shell git ls-files -co --exclude-standard | while read -r f; do \
	[[ -f $$f ]] && head -n1 "$$f" | grep -qE '^\#!.*\b(bash|sh)\b' && echo "$$f"; done)

.PHONY: all build deps lint test unit integration demo bench clean

all: build

build:
	$(CARGO) build --release --locked

deps:
	tests/deps

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	shellcheck -x $(BASH_FILES)

unit:
	$(CARGO) test --locked --lib --bins

integration: deps
	$(CARGO) test --locked --test '*'

test: deps lint
	$(CARGO) test --locked

demo: deps
	$(CARGO) build --locked
	tests/demo

clean:
	$(CARGO) clean
	rm -rf target/sandboxes target/demo
