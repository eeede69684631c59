/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUZZ_STANDALONE_H
#define FUZZ_STANDALONE_H

#include <stddef.h>
#include <stdint.h>

/* The fuzz target's entry, defined in Swift (FuzzTarget.swift). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* FUZZ_STANDALONE_H */
