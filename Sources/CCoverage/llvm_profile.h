/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What coverage.c needs of compiler-rt's profile runtime
 * (compiler-rt/lib/profile/InstrProfiling.h): the bounds of the section
 * of counters.  Weak references: a build without the runtime links, and
 * finds them NULL.
 */
#ifndef MMFUZZ_LLVM_PROFILE_H
#define MMFUZZ_LLVM_PROFILE_H

char *__llvm_profile_begin_counters(void);
char *__llvm_profile_end_counters(void);
#pragma weak __llvm_profile_begin_counters
#pragma weak __llvm_profile_end_counters

/* The reader's own region counts nothing */
#define __no_profile	__attribute__((no_profile_instrument_function))

#endif /* MMFUZZ_LLVM_PROFILE_H */
