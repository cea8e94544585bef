# Every target that builds runs `setup` first, so each works alone on a fresh machine.
SWIFT ?= swift
BIN := .build/release
# The tools are built for this machine's x86-64 level (x86-64-v4, AVX-512: LLVM's skylake-avx512;
# x86-64-v3, AVX2 and FMA: haswell), so the SIMD kernels run at its vector width; a binary copied to
# an older processor refuses to start with one error line (exit 69, Sources/CPUCheck).
# TARGET_CPU=x86-64 builds for any x86-64. Package.swift carries no flags.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has = $(filter $(1),$(CPU_FLAGS))
V3 := $(and $(call has,avx2),$(call has,fma),$(call has,bmi1),$(call has,bmi2),$(call has,f16c),$(call has,movbe))
V4 := $(and $(V3),$(call has,avx512f),$(call has,avx512bw),$(call has,avx512dq),$(call has,avx512vl),$(call has,avx512cd))
TARGET_CPU ?= $(if $(filter x86_64,$(shell uname -m)),$(if $(V4),skylake-avx512,$(if $(V3),haswell,x86-64)))
LEVEL := $(if $(filter skylake-avx512,$(TARGET_CPU)),4,$(if $(filter haswell,$(TARGET_CPU)),3,1))
BUILD_FLAGS := $(if $(TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(TARGET_CPU) -Xcc -DMNIST_X86_64_LEVEL=$(LEVEL))
# The commands: one folder each under Sources/ (Package.swift's `commands` lists the same).
COMMANDS := $(sort $(notdir $(wildcard Sources/mnist-*)))
CONFIG ?= dense512.json
CHECKPOINT ?= model.ckpt

.PHONY: setup build test train eval bench bench-reference fuzz docs install install-files clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release $(BUILD_FLAGS)

# Numeric code is 10-100x slower in debug builds, so tests run optimised too.
# All tests are XCTest; skipping the empty Swift Testing pass keeps XCTest's summary last.
test: setup
	$(SWIFT) build -c release --build-tests $(BUILD_FLAGS)
	$(SWIFT) test -c release --skip-build --disable-swift-testing $(BUILD_FLAGS)

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

# The same run beside reference programs (needs pip), for CONFIG or by default all four comparisons:
# dense512.json beside its Keras program and NumPy by hand; mnist-cnn.json beside keras-io's convnet
# and the same model in PyTorch; cnn.json beside the same layers in Keras; mnist-fast.json's whole
# process, seeds 1-3, beside the same recipe in PyTorch. ROUNDS=N alternates ours and the references
# N times for the epoch comparisons and prints each ratio's median and range (a shared machine drifts).
bench-reference: build
	CONFIG="$(if $(filter command line environment,$(origin CONFIG)),$(CONFIG))" scripts/bench-reference.sh

# The library's API reference and article (DocC, through swift-docc-plugin); any warning fails.
docs: setup
	$(SWIFT) package generate-documentation --target MNISTKit --warnings-as-errors
	@echo "open .build/plugins/Swift-DocC/outputs/MNISTKit.doccarchive (or: swift package --disable-sandbox preview-documentation --target MNISTKit)"

# libFuzzer on the readers (IDX, spec, checkpoint, images, Keras weights, NumPy), FUZZ_SECONDS (60) each.
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
