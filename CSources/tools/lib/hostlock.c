// SPDX-License-Identifier: GPL-2.0
/*
 * Host spinlocks for the threaded regime, where the simulated CPUs are
 * host threads on real cores (tools/testing/stress/stress.c).  They guard the
 * simulator's own shared state, not the simulated kernel's: a CPU's TLB
 * and paging-structure cache, the frame allocator, the violation log.
 *
 * A spinner pauses, and after a while yields its core: there may be more
 * simulated CPUs than host cores, and the holder may be waiting for one.
 */
#include <sched.h>
#include <linux/mm.h>

#define SPINS_BEFORE_YIELD	256

/* The calling host thread, as an owner token */
static __thread char host_thread_token;

void sim_spin_pause(unsigned int *spins)
{
	if (++*spins < SPINS_BEFORE_YIELD) {
		__builtin_ia32_pause();
		return;
	}
	*spins = 0;
	sched_yield();
}

/**
 * sim_lock - take @lock, or nest once more if this host thread holds it
 * @lock: the lock
 */
void sim_lock(struct sim_lock *lock)
{
	const void *me = &host_thread_token;
	unsigned int spins = 0;

	if (__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == me) {
		lock->depth++;
		return;
	}
	while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
			sim_spin_pause(&spins);
	__atomic_store_n(&lock->owner, me, __ATOMIC_RELAXED);
	lock->depth = 1;
}

/**
 * sim_unlock - undo one sim_lock() of @lock by this host thread
 * @lock: the lock
 */
void sim_unlock(struct sim_lock *lock)
{
	if (--lock->depth)
		return;
	__atomic_store_n(&lock->owner, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}
