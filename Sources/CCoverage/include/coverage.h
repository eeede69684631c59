/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coverage.h: the LLVM profile counters of this process, for `mmfuzz run
 * --coverage-corpus` (a case that makes one go from zero to non-zero
 * reached code no case had reached).
 *
 * Self-contained: Swift imports this header.
 */
#ifndef MMFUZZ_COVERAGE_H
#define MMFUZZ_COVERAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The counters of the code compiled with -fprofile-instr-generate (the C
 * of the scripts/coverage build), one 64-bit count per region, in
 * *@begin; returns how many there are.  0, and *@begin NULL, in a build
 * without the profile runtime.
 */
size_t mmfuzz_coverage_counters(const uint64_t **begin);

#ifdef __cplusplus
}
#endif

#endif /* MMFUZZ_COVERAGE_H */
