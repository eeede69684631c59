/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KERNEL_LOCKING_LOCKDEP_H
#define _KERNEL_LOCKING_LOCKDEP_H

void lockdep_acquire(const void *lock, u32 class, int subclass);
void lockdep_acquire_trylock(const void *lock, u32 class);
void lockdep_release(const void *lock, u32 class);

#endif /* _KERNEL_LOCKING_LOCKDEP_H */
