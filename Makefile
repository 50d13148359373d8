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

# Static (musl) release binaries for the install trigger's download path, and their sums in
# SHA256SUMS (commit it with the version it is for: install downloads only what it lists).
# Paths are remapped so that the same commit and toolchain give the same bytes on any machine,
# which lets .github/workflows/release.yml check its own build against the committed sums.
# A target rustup does not have is skipped with the command that adds it.
VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' plugin.toml | head -n 1)
RELEASE_TARGETS = x86_64-unknown-linux-musl:amd64 aarch64-unknown-linux-musl:arm64
RELEASE_RUSTFLAGS = --remap-path-prefix=$(CURDIR)=/src --remap-path-prefix=$(HOME)/.cargo=/cargo -C target-feature=+crt-static
release:
	@mkdir -p dist
	@for pair in $(RELEASE_TARGETS); do \
		target=$${pair%%:*}; arch=$${pair##*:}; \
		if rustup target list --installed 2>/dev/null | grep -qx "$$target"; then \
			RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --release --locked --target "$$target" && \
			cp "target/$$target/release/postgres-upgrade" "dist/postgres-upgrade-$(VERSION)-linux-$$arch" || exit 1; \
		else \
			echo "skipping $$target: not installed (rustup target add $$target)"; \
		fi; \
	done
	@cd dist && ls postgres-upgrade-$(VERSION)-linux-* >/dev/null 2>&1 || { echo "no release binary built" >&2; exit 1; }
	@{ sed -n '/^#/p' SHA256SUMS; (cd dist && sha256sum postgres-upgrade-$(VERSION)-linux-*); } >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS
	@cat SHA256SUMS

# The maintenance window, measured (not part of `make test`): 10 MB, 100 MB, 1 GB.
bench: deps
	$(CARGO) build --release --locked
	benches/window

clean:
	$(CARGO) clean
	rm -rf target/sandboxes target/demo dist
