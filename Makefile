# Switchyard developer entry points. Everything that needs system packages runs scripts/install-deps.sh first,
# which does nothing on a machine that has them all.
#
#   make run            install deps, release build, run the proxy in the foreground with $(CONFIG)
#   make test           install deps, rustfmt check, clippy (warnings are errors), all tests (debug profile)
#   make bench          cargo bench
#   make check-config   validate $(CONFIG) and list every problem

CARGO ?= cargo
CONFIG ?= proxy.toml
# Honour a CARGO_TARGET_DIR from the environment, as cargo does.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: all deps build run test fmt-check clippy bench check-config

all: build

deps:
	bash scripts/install-deps.sh

build:
	$(CARGO) build --release

run: deps build
	exec $(TARGET_DIR)/release/switchyard serve --config $(CONFIG)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

# Doc tests first, then every target (lib, bins, tests, benches in test mode); `--all-targets` skips doc tests.
test: deps fmt-check clippy
	$(CARGO) test --doc
	$(CARGO) test --all-targets

bench:
	$(CARGO) bench

check-config:
	$(CARGO) run --quiet -- check-config $(CONFIG)
