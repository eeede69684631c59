// SPDX-License-Identifier: GPL-2.0
/*
 * The LLVM profile runtime's counters, read in place.
 *
 * compiler-rt's profile runtime, linked when the build passes
 * -fprofile-instr-generate, gives the bounds of the section that holds
 * the counter of every instrumented region; without the runtime they are
 * NULL (llvm_profile.h declares them weak): no counters.  Counters are
 * 64-bit, the default (not -enable-single-byte-coverage's bytes).
 */
#include "coverage.h"
#include "llvm_profile.h"

size_t __no_profile mmfuzz_coverage_counters(const uint64_t **begin)
{
	char *b, *e;

	*begin = NULL;
	if (!__llvm_profile_begin_counters || !__llvm_profile_end_counters)
		return 0;
	b = __llvm_profile_begin_counters();
	e = __llvm_profile_end_counters();
	if (!b || e <= b)
		return 0;
	*begin = (const uint64_t *)b;
	return (size_t)(e - b) / sizeof(uint64_t);
}
