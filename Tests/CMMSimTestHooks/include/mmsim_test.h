/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsim_test.h - deliberately broken kernel paths, for the tests only.
 *
 * Each entry point does something the kernel must never do, so that a test
 * can show the matching checker fires.  None of them is linked into mmfuzz.
 */
#ifndef MMSIM_TEST_H
#define MMSIM_TEST_H

#include <stdint.h>
#include "mmsim.h"

/*
 * Free the frame that backs @addr in @mm straight back to the page
 * allocator, leaving the pte and every CPU's TLB entry for it in place.
 * Expect MMSIM_V_FREE_WHILE_CACHED (and MMSIM_V_USE_AFTER_FREE on the next
 * access through a stale entry).  The pte is cleared so that accounting
 * does not trip over it.
 */
int mmsim_test_free_cached_frame(struct mmsim *m, int mm, uint64_t addr);

/*
 * munmap() of one page on @cpu that invalidates only the local TLB and
 * skips the IPI to the other CPUs in mm_cpumask.  Expect
 * MMSIM_V_INCOHERENT from the check at return.
 */
int mmsim_test_unmap_no_remote_flush(struct mmsim *m, int cpu, int mm,
				     uint64_t addr);

/*
 * Unhook the pte page that maps @addr in @mm from its pmd, flush, and
 * forget it instead of freeing it.  Expect MMSIM_V_LEAK once every mm has
 * exited.
 */
int mmsim_test_leak_pte_table(struct mmsim *m, int cpu, int mm,
			      uint64_t addr);

#endif /* MMSIM_TEST_H */
