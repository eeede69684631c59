#!/bin/bash -eu
# OSS-Fuzz build script for mmfuzz (projects/mmfuzz/build.sh): builds the
# libFuzzer target mmfuzz-libfuzzer as the fuzzer "mmfuzz", with its seed
# corpus (the regression reproducers as inputs) and options.
#
# Outside OSS-Fuzz it runs as it is given SRC, OUT and WORK (see
# fuzz/README.md): without precompile_swift, SWIFTFLAGS defaults to the
# same sanitizers through SwiftPM's own flags.

cd "$SRC/mmfuzz"
if command -v precompile_swift >/dev/null 2>&1; then
	# shellcheck disable=SC1091
	. precompile_swift
fi
SWIFTFLAGS=${SWIFTFLAGS:---sanitize=fuzzer --sanitize=${SANITIZER:-address} --static-swift-stdlib}

# shellcheck disable=SC2086
swift build -c release $SWIFTFLAGS --product mmfuzz-libfuzzer \
	--scratch-path "$WORK/mmfuzz-build"
cp "$WORK/mmfuzz-build/release/mmfuzz-libfuzzer" "$OUT/mmfuzz"
rm -f "$OUT/mmfuzz_seed_corpus.zip"
zip -q -j "$OUT/mmfuzz_seed_corpus.zip" fuzz/corpus/*.bin
cp fuzz/oss-fuzz/mmfuzz.options "$OUT/mmfuzz.options"
