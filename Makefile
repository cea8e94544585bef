# Every target that builds runs `setup` first, so each works alone on a fresh machine.
SWIFT ?= swift
BIN := .build/release

.PHONY: setup build test clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release

# Numeric code is 10-100x slower in debug builds, so tests run optimised too.
test: setup
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

clean:
	rm -rf .build
