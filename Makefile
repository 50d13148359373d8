# dokku-postgres-upgrade: build, lint and test. `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

# Every bash file of the repo (by its first line), outside build and cache folders.
BASH_FILES = $(shell git ls-files -co --exclude-standard | while read -r f; do \
	[[ -f $$f ]] && head -n1 "$$f" | grep -qE '^\#!.*\b(bash|sh)\b' && echo "$$f"; done)

.PHONY: release-toolchain all build deps lint test test-regress unit integration demo bench bench-preflight release release-binaries release-check clean

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

# Releases (README, "Releases"). The version in plugin.toml and Cargo.toml names the binary:
# SHA256SUMS holds the sums of the release binaries of one version, and names it on its first
# line. `make release` builds the static (musl) binaries for the targets rustup has, with paths
# remapped so that the same commit and toolchain (release-toolchain.toml) give the same bytes on any
# machine, into dist/, with the offline archives (scripts/release-archive), and writes their
# sums into SHA256SUMS. `make release-check` builds again and refuses a binary that differs from
# the sums SHA256SUMS holds for this same version: a changed binary needs a new version.
# .github/workflows/release.yml runs both, builds each target twice (one sum, or no release),
# and publishes the version's tag, binaries, archives and sums. A target rustup does not have is
# skipped with the command that adds it.
VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' plugin.toml | head -n 1)
RELEASE_TOOLCHAIN = $(shell sed -n 's/^channel = "\(.*\)"$$/\1/p' release-toolchain.toml | head -n 1)
RELEASE_TARGETS = x86_64-unknown-linux-musl:amd64 aarch64-unknown-linux-musl:arm64
RELEASE_DIR ?= dist
RELEASE_TARGET_DIR ?= target
RELEASE_RUSTFLAGS = --remap-path-prefix=$(CURDIR)=/src --remap-path-prefix=$(HOME)/.cargo=/cargo \
	--remap-path-prefix=$(HOME)/.rustup=/rustup -C target-feature=+crt-static
# rustc's own lld links both targets: no cross C toolchain is needed for arm64.
RELEASE_LINKERS = CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld

# The pinned toolchain and the release targets, fetched by rustup (the workflows run this first).
release-toolchain:
	rustup toolchain install "$(RELEASE_TOOLCHAIN)" --profile minimal $(foreach pair,$(RELEASE_TARGETS),--target $(firstword $(subst :, ,$(pair))))

release-binaries:
	@mkdir -p $(RELEASE_DIR)
	@for pair in $(RELEASE_TARGETS); do \
		target=$${pair%%:*}; arch=$${pair##*:}; \
		if rustup target list --installed --toolchain "$(RELEASE_TOOLCHAIN)" 2>/dev/null | grep -qx "$$target"; then \
			RUSTUP_TOOLCHAIN="$(RELEASE_TOOLCHAIN)" RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(RELEASE_LINKERS) CARGO_TARGET_DIR="$(RELEASE_TARGET_DIR)" \
				$(CARGO) build --release --locked --quiet --target "$$target" && \
			cp "$(RELEASE_TARGET_DIR)/$$target/release/postgres-upgrade" "$(RELEASE_DIR)/postgres-upgrade-$(VERSION)-linux-$$arch" || exit 1; \
		else \
			echo "skipping $$target: not installed (rustup target add --toolchain $(RELEASE_TOOLCHAIN) $$target)"; \
		fi; \
	done
	@ls $(RELEASE_DIR)/postgres-upgrade-$(VERSION)-linux-* >/dev/null 2>&1 || { echo "no release binary built" >&2; exit 1; }

release: release-binaries
	@for binary in $(RELEASE_DIR)/postgres-upgrade-$(VERSION)-linux-*; do \
		case "$$binary" in *.tar.gz) continue ;; esac; \
		scripts/release-archive . "$$binary" "$$binary.tar.gz" >/dev/null || exit 1; \
	done
	@{ echo "# SHA-256 of the release binaries of postgres-upgrade $(VERSION) (make release; README, \"Releases\")"; \
		(cd $(RELEASE_DIR) && sha256sum postgres-upgrade-$(VERSION)-linux-* | grep -v '\.tar\.gz$$'); } >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS
	@cat SHA256SUMS

release-check:
	@$(MAKE) --no-print-directory release-binaries RELEASE_DIR=target/release-check RELEASE_TARGET_DIR=target/release-check-build
	@scripts/release-check SHA256SUMS $(VERSION) target/release-check

# The maintenance window, measured (not part of `make test`): 10 MB, 100 MB, 1 GB.
bench: deps
	$(CARGO) build --release --locked
	benches/window
	benches/preflight

# Preflight on a host with 100 apps (not part of `make test`): target/bench/preflight.json.
bench-preflight: deps
	$(CARGO) build --release --locked
	benches/preflight

clean:
	$(CARGO) clean
	rm -rf target/sandboxes target/demo dist
