# dokku-postgres-upgrade: build, lint and test. `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

# Every bash file of the repo (by its first line), outside build and cache folders.
BASH_FILES = $(shell git ls-files -co --exclude-standard | while read -r f; do \
	[[ -f $$f ]] && head -n1 "$$f" | grep -qE '^\#!.*\b(bash|sh)\b' && echo "$$f"; done)

.PHONY: all build deps lint test test-regress unit integration demo bench release clean

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

# PostgreSQL's regression database moved 15 -> 17 and compared by tests/compare/compare
# (docs/regress.md); also part of `make test`.
test-regress: deps
	$(CARGO) test --locked --test regress -- --nocapture

demo: deps
	$(CARGO) build --locked
	tests/demo

# Static (musl) release binaries for the install trigger's download path, with their sums.
# A target rustup does not have installed is skipped with the command that adds it.
VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' plugin.toml | head -n 1)
RELEASE_TARGETS = x86_64-unknown-linux-musl:amd64 aarch64-unknown-linux-musl:arm64
release:
	@mkdir -p dist
	@for pair in $(RELEASE_TARGETS); do \
		target=$${pair%%:*}; arch=$${pair##*:}; \
		if rustup target list --installed 2>/dev/null | grep -qx "$$target"; then \
			$(CARGO) build --release --locked --target "$$target" && \
			cp "target/$$target/release/postgres-upgrade" "dist/postgres-upgrade-$(VERSION)-linux-$$arch"; \
		else \
			echo "skipping $$target: not installed (rustup target add $$target)"; \
		fi; \
	done
	@cd dist && ls postgres-upgrade-$(VERSION)-linux-* >/dev/null 2>&1 && sha256sum postgres-upgrade-$(VERSION)-linux-* | tee SHA256SUMS || echo "no release binary built"

# The maintenance window, measured (not part of `make test`): 10 MB, 100 MB, 1 GB.
bench: deps
	$(CARGO) build --release --locked
	benches/window

clean:
	$(CARGO) clean
	rm -rf target/sandboxes target/demo dist
