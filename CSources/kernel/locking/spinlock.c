// SPDX-License-Identifier: GPL-2.0
/*
 * Spinlocks and preemption counts of the simulated CPUs.
 *
 * In the sequential regime a lock is never contended: finding it held by
 * another CPU, or by this one, is a locking violation (a deadlock on real
 * hardware).  In the concurrent regime a CPU that finds a lock held waits
 * for it, letting the others run.  In the threaded regime, where the
 * CPUs are host threads, a lock is a real spinlock: its owner word is
 * taken by compare-and-swap, and a waiter spins on it.  Taking a lock
 * disables preemption, as on SMP kernels.
 */
#include <linux/mm.h>
#include "lockdep.h"

void preempt_disable(void)
{
	__get_cpu_var(preempt_count)++;
}

static void end_preempt_off_stretch(void)
{
	unsigned long work = __get_cpu_var(preempt_off_work);

	count_vm_peak(max_preempt_off_ptes, work);
	__get_cpu_var(preempt_off_work) = 0;
}

void preempt_enable(void)
{
	int *count = &__get_cpu_var(preempt_count);

	if (*count <= 0) {
		sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1,
			   __func__, "preempt count underflow");
		return;
	}
	if (--*count == 0) {
		end_preempt_off_stretch();
		if (preempt_model_full())
			count_vm_event(preempt_points);
	}
}

int preempt_count(void)
{
	return __get_cpu_var(preempt_count);
}

void preempt_account_work(unsigned long nr)
{
	if (__get_cpu_var(preempt_count))
		__get_cpu_var(preempt_off_work) += nr;
}

/*
 * cond_resched - a voluntary preemption point.  Sleeping here with a
 * spinlock held or preemption disabled is a bug on any kernel.
 */
void cond_resched(void)
{
	sim_interleave();
	if (__get_cpu_var(preempt_count)) {
		sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1,
			   __func__, "might sleep with preempt count %d",
			   __get_cpu_var(preempt_count));
		return;
	}
	count_vm_event(preempt_points);
}

static bool spin_unowned(const void *lock)
{
	return READ_ONCE(((const spinlock_t *)lock)->owner) ==
	       SPIN_LOCK_UNOWNED;
}

static bool spin_trylock_owner(spinlock_t *lock, int cpu)
{
	s32 unowned = SPIN_LOCK_UNOWNED;

	return __atomic_compare_exchange_n(&lock->owner, &unowned, cpu, false,
					   __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* The threaded regime: spin on the owner word until it is ours */
static void spin_lock_threaded(spinlock_t *lock, int cpu)
{
	unsigned int spins = 0;

	if (spin_trylock_owner(lock, cpu))
		return;
	count_vm_event(lock_contended);
	do {
		sim_spin_pause(&spins);
	} while (!spin_unowned(lock) || !spin_trylock_owner(lock, cpu));
}

void spin_lock_nested(spinlock_t *lock, int subclass)
{
	int cpu = smp_processor_id();
	s32 owner;

	preempt_disable();
	sim_interleave();
	count_vm_event(lock_acquisitions);
	lockdep_acquire(lock, lock->class, subclass);
	owner = READ_ONCE(lock->owner);
	if (owner == cpu)
		return;		/* reported by lockdep; do not self-deadlock */
	if (unlikely(sim_threaded())) {
		spin_lock_threaded(lock, cpu);
		return;
	}
	if (owner != SPIN_LOCK_UNOWNED) {
		count_vm_event(lock_contended);
		if (sim_concurrent())
			sim_spin_until(spin_unowned, lock);
		else
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "lock of class %u held by cpu %d",
				   lock->class, owner);
	}
	WRITE_ONCE(lock->owner, cpu);
}

void spin_unlock(spinlock_t *lock)
{
	int cpu = smp_processor_id();
	s32 owner = READ_ONCE(lock->owner);

	if (owner != cpu) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "unlock of class %u owned by %d", lock->class,
			   owner);
		return;
	}
	__atomic_store_n(&lock->owner, SPIN_LOCK_UNOWNED, __ATOMIC_RELEASE);
	lockdep_release(lock, lock->class);
	preempt_enable();
	sim_interleave();
}

bool spin_is_locked_by_me(const spinlock_t *lock)
{
	return READ_ONCE(lock->owner) == smp_processor_id();
}
