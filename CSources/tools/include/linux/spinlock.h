/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Spinlocks for the simulated CPUs.  A lock records its owner so that the
 * simulator can check every page-table write against the lock the variant
 * requires, and count acquisitions and contention.
 */
#ifndef _TOOLS_LINUX_SPINLOCK_H
#define _TOOLS_LINUX_SPINLOCK_H

typedef struct { s32 owner; u32 class; } spinlock_t;

#define SPIN_LOCK_UNOWNED	(-1)

enum lock_class {
	LOCK_CLASS_MMAP_SEM,		/* mm->mmap_sem (a sleeping lock) */
	LOCK_CLASS_MM_PTL,		/* mm->page_table_lock */
	LOCK_CLASS_PTE_PTL,		/* page->ptl of a pte page */
	LOCK_CLASS_PMD_PTL,		/* page->ptl of a pmd page */
	LOCK_CLASS_ANON_VMA,		/* anon_vma->lock of a fork family */
	LOCK_CLASS_OTHER,
	LOCK_CLASSES,
};

/* A second lock of one class may be taken as subclass 1, and no deeper */
#define SINGLE_DEPTH_NESTING	1
#define LOCK_KEYS		(2 * LOCK_CLASSES)

static inline void spin_lock_init_class(spinlock_t *lock, u32 class)
{
	lock->owner = SPIN_LOCK_UNOWNED;
	lock->class = class;
}

#define spin_lock_init(lock) spin_lock_init_class(lock, LOCK_CLASS_OTHER)

void spin_lock_nested(spinlock_t *lock, int subclass);
void spin_unlock(spinlock_t *lock);

#define spin_lock(lock)	spin_lock_nested(lock, 0)
bool spin_is_locked_by_me(const spinlock_t *lock);

#define assert_spin_locked(lock)	BUG_ON(!spin_is_locked_by_me(lock))

#endif /* _TOOLS_LINUX_SPINLOCK_H */
