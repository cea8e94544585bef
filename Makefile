# Every target that builds runs `setup` first, so each works alone on a fresh machine.
SWIFT ?= swift
BIN := .build/release
# The commands: one folder each under Sources/ (Package.swift's `commands` lists the same).
COMMANDS := $(sort $(notdir $(wildcard Sources/mnist-*)))
CONFIG ?= dense512.json
CHECKPOINT ?= model.ckpt

.PHONY: setup build test train eval bench bench-reference fuzz docs install install-files clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release

# Numeric code is 10-100x slower in debug builds, so tests run optimised too.
# All tests are XCTest; skipping the empty Swift Testing pass keeps XCTest's summary last.
test: setup
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build --disable-swift-testing

# Trains the seed model (Dense 512 relu, Dense 10 softmax, RMSprop) on Fashion-MNIST, then evaluates it.
train: build
	$(BIN)/mnist-train --config $(CONFIG) --output $(CHECKPOINT)
	$(BIN)/mnist-eval $(CHECKPOINT)

eval: build
	$(BIN)/mnist-eval $(CHECKPOINT)

# Trains CONFIG (the seed model) for 3 epochs and prints speed, the sgemm bound, memory and eval
# time (JSON last). DATA is the dataset folder; for the digit configs (mnist-*) it defaults to the
# MNIST files beside the project, ../shared/data/mnist, when they are there.
DATA ?= $(if $(findstring mnist-,$(CONFIG)),$(wildcard ../shared/data/mnist))
bench: build
	$(BIN)/mnist-bench --config $(CONFIG) $(if $(DATA),--data $(DATA))

# The same run beside reference programs (needs pip): the seed model beside its Keras program and
# NumPy by hand; CONFIG=mnist-cnn.json beside keras-io's convnet and the same model in PyTorch.
bench-reference: build
	CONFIG=$(CONFIG) scripts/bench-reference.sh

# The library's API reference and article (DocC, through swift-docc-plugin); any warning fails.
docs: setup
	$(SWIFT) package generate-documentation --target MNISTKit --warnings-as-errors
	@echo "open .build/plugins/Swift-DocC/outputs/MNISTKit.doccarchive (or: swift package --disable-sandbox preview-documentation --target MNISTKit)"

# libFuzzer on the IDX reader, the model spec and the checkpoint reader, FUZZ_SECONDS (60) each.
FUZZ_SECONDS ?= 60
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Installs the tools into PREFIX/bin and the example configs into PREFIX/share/mnist-train/configs,
# where `--config NAME` finds them from any folder.
PREFIX ?= /usr/local
install: build
	$(MAKE) install-files PREFIX=$(PREFIX)

install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mnist-train/configs
	install -m 755 $(addprefix $(BIN)/,$(COMMANDS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 configs/*.json $(DESTDIR)$(PREFIX)/share/mnist-train/configs/

clean:
	rm -rf .build .build-fuzz
