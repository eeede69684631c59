/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KERNEL_LOCKING_LOCKDEP_H
#define _KERNEL_LOCKING_LOCKDEP_H

void lockdep_acquire(const spinlock_t *lock, int subclass);
void lockdep_release(const spinlock_t *lock);

#endif /* _KERNEL_LOCKING_LOCKDEP_H */
