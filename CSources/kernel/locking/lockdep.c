// SPDX-License-Identifier: GPL-2.0
/*
 * A small lockdep for the simulated CPUs.
 *
 * Locks are grouped in classes (the mm's page_table_lock, the split lock
 * of a pte page, ...), each with a nesting subclass.  Every acquisition
 * records, for each lock already held, that its key was taken before the
 * new one; taking two keys in the order opposite to one seen before is
 * reported at once, whether or not the CPUs ever deadlocked on it.  Taking
 * a second lock of a key already held without a nesting annotation is
 * reported as possible recursive locking, as lockdep does.  The order
 * matrix is shared by every CPU: its cells are read and set with single
 * atomic accesses, so that host threads may update it at once.
 */
#include <linux/mm.h>
#include "lockdep.h"

static const char * const class_names[LOCK_CLASSES] = {
	[LOCK_CLASS_MMAP_SEM] = "mm->mmap_sem",
	[LOCK_CLASS_MM_PTL] = "mm->page_table_lock",
	[LOCK_CLASS_PTE_PTL] = "pte page ptl",
	[LOCK_CLASS_PMD_PTL] = "pmd page ptl",
	[LOCK_CLASS_ANON_VMA] = "anon_vma->lock",
	[LOCK_CLASS_OTHER] = "other",
};

static unsigned int lock_key(u32 class, int subclass)
{
	return class * 2 + (subclass ? 1 : 0);
}

static const char *key_name(unsigned int key)
{
	return class_names[key / 2];
}

void lockdep_acquire(const void *lock, u32 class, int subclass)
{
	int cpu = smp_processor_id();
	int depth = __get_cpu_var(locks_held);
	unsigned int key = lock_key(class, subclass);
	int i;

	for (i = 0; i < depth; i++) {
		unsigned int held = __get_cpu_var(held_keys)[i];

		if (__get_cpu_var(held_locks)[i] == lock) {
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "recursive locking of %s", key_name(key));
			continue;
		}
		if (held == key) {
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "possible recursive locking: two %s/%u without nesting",
				   key_name(key), key & 1);
			continue;
		}
		if (READ_ONCE(sim->lock_order[key][held]))
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "lock inversion: %s/%u taken under %s/%u, the reverse of an order seen before",
				   key_name(key), key & 1, key_name(held),
				   held & 1);
		if (!READ_ONCE(sim->lock_order[held][key]))
			WRITE_ONCE(sim->lock_order[held][key], 1);
	}
	if (depth == MAX_LOCK_DEPTH) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "more than %d locks held", MAX_LOCK_DEPTH);
		return;
	}
	__get_cpu_var(held_locks)[depth] = lock;
	__get_cpu_var(held_keys)[depth] = key;
	__get_cpu_var(locks_held) = depth + 1;
}

/*
 * A trylock that succeeded: held from now on, so locks taken under it are
 * ordered after it, but it never waited, so it orders nothing before it.
 */
void lockdep_acquire_trylock(const void *lock, u32 class)
{
	int depth = __get_cpu_var(locks_held);

	if (depth == MAX_LOCK_DEPTH) {
		sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1,
			   __func__, "more than %d locks held", MAX_LOCK_DEPTH);
		return;
	}
	__get_cpu_var(held_locks)[depth] = lock;
	__get_cpu_var(held_keys)[depth] = lock_key(class, 0);
	__get_cpu_var(locks_held) = depth + 1;
}

void lockdep_release(const void *lock, u32 class)
{
	int depth = __get_cpu_var(locks_held);
	int i;

	for (i = depth - 1; i >= 0; i--) {
		if (__get_cpu_var(held_locks)[i] != lock)
			continue;
		for (; i < depth - 1; i++) {
			__get_cpu_var(held_locks)[i] =
				__get_cpu_var(held_locks)[i + 1];
			__get_cpu_var(held_keys)[i] =
				__get_cpu_var(held_keys)[i + 1];
		}
		__get_cpu_var(locks_held) = depth - 1;
		return;
	}
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, __func__,
		   "release of a %s not held", class_names[class]);
}
