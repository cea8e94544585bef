#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/*Fuzzer.swift, compiled with the library's
# sources under AddressSanitizer) and runs each for FUZZ_SECONDS (default 60) from
# the seed corpus in Tests/Fuzz/corpus. New inputs go to .build-fuzz/corpus, crashes
# to .build-fuzz/crashes. Usage: scripts/fuzz.sh [idx|spec|checkpoint|image|keras|numpy|csv ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(idx spec checkpoint image keras numpy csv)
out=.build-fuzz
mkdir -p "$out/crashes"
library=$(find Sources/MNISTKit -name '*.swift' | sort)

# The library's one package dependency, SwiftProtobuf (for ONNX export), as a static library
# built from SwiftPM's checkout of it.
if [ ! -f "$out/libSwiftProtobuf.a" ]; then
    swift package resolve
    protobuf=$(find .build/checkouts/swift-protobuf/Sources/SwiftProtobuf -name '*.swift' | sort)
    echo "Building $out/libSwiftProtobuf.a"
    (cd "$out" && swiftc -O -parse-as-library -module-name SwiftProtobuf -package-name swift_protobuf -swift-version 5 \
        -enable-upcoming-feature ExistentialAny -emit-module -emit-library -static \
        $(printf '../%s ' $protobuf) -o libSwiftProtobuf.a)
fi

for target in "${targets[@]}"; do
    case "$target" in
        idx) source=Tests/Fuzz/IDXFuzzer.swift ;;
        spec) source=Tests/Fuzz/SpecFuzzer.swift ;;
        checkpoint) source=Tests/Fuzz/CheckpointFuzzer.swift ;;
        image) source=Tests/Fuzz/ImageFuzzer.swift ;;
        keras) source=Tests/Fuzz/KerasWeightsFuzzer.swift ;;
        numpy) source=Tests/Fuzz/NumPyFuzzer.swift ;;
        csv) source=Tests/Fuzz/CSVFuzzer.swift ;;
        *) echo "error: unknown fuzz target '$target'; expected idx, spec, checkpoint, image, keras, numpy or csv" >&2; exit 64 ;;
    esac
    binary="$out/fuzz-$target"
    if [ ! -x "$binary" ] || [ -n "$(find Sources/MNISTKit "$source" -newer "$binary" -name '*.swift' | head -1)" ]; then
        echo "Building $binary"
        # The CPU check's C part, for baseline x86-64 as the fuzzers are (no level: no check).
        clang -O -c Sources/CPUCheck/cpu_check.c -I Sources/CPUCheck/include -o "$out/cpu_check.o"
        swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name MNISTKit \
            -I Sources/CBLAS -I Sources/CZlib -I Sources/CFloatMath -I Sources/CPNG -I Sources/CHDF5 -I Sources/CZip -I Sources/CPUCheck/include -I "$out" \
            $library "$source" "$out/cpu_check.o" -L "$out" -lSwiftProtobuf -lopenblas -lz -lpng16 -lhdf5_serial -lzip -o "$binary"
    fi
    # libhdf5 1.10 (Debian's) trusts lengths in a damaged file's metadata: it leaks a few bytes on
    # some error paths (H5Gopen2 -> H5O_protect) and asks malloc for absurd sizes (H5C_protect),
    # which glibc refuses and libhdf5 then reports as an error (the tool exits 65; checked on the
    # findings). The tool reads HDF5 in a child process (KerasWeights.swift), so a crash inside
    # libhdf5 is an error too. For the Keras target, leaks and refused huge allocations are therefore not
    # findings; memory errors are. The other targets keep the 300 MB allocation limit.
    leaks=1 malloc_limit=300 sanitizer=""
    if [ "$target" = keras ]; then leaks=0 malloc_limit=1048576 sanitizer=allocator_may_return_null=1; fi
    mkdir -p "$out/corpus/$target"
    echo "Fuzzing $target for $seconds s"
    # -malloc_limit_mb: any single allocation above the limit is reported as a bug.
    ASAN_OPTIONS=$sanitizer "$binary" "$out/corpus/$target" "Tests/Fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=$malloc_limit \
        -detect_leaks=$leaks -artifact_prefix="$out/crashes/$target-" -print_final_stats=1 2>&1 | tail -n 20
done
