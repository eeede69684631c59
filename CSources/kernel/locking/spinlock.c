// SPDX-License-Identifier: GPL-2.0
/*
 * Spinlocks and preemption counts of the simulated CPUs.
 *
 * In the sequential regime a lock is never contended: finding it held by
 * another CPU, or by this one, is a locking violation (a deadlock on real
 * hardware).  In the concurrent regime a CPU that finds a lock held waits
 * for it, letting the others run.  Taking a lock disables preemption, as
 * on SMP kernels.
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

	if (work > sim_stat(max_preempt_off_ptes))
		sim_stat(max_preempt_off_ptes) = work;
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
		if (sim->config.preempt)
			sim_stat_inc(preempt_points);
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
	sim_stat_inc(preempt_points);
}

static bool spin_unowned(const void *lock)
{
	return ((const spinlock_t *)lock)->owner == SPIN_LOCK_UNOWNED;
}

void spin_lock_nested(spinlock_t *lock, int subclass)
{
	int cpu = smp_processor_id();

	preempt_disable();
	sim_interleave();
	sim_stat_inc(lock_acquisitions);
	lockdep_acquire(lock, lock->class, subclass);
	if (lock->owner == cpu)
		return;		/* reported by lockdep; do not self-deadlock */
	if (lock->owner != SPIN_LOCK_UNOWNED) {
		sim_stat_inc(lock_contended);
		if (sim_concurrent())
			sim_spin_until(spin_unowned, lock);
		else
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "lock of class %u held by cpu %d",
				   lock->class, lock->owner);
	}
	lock->owner = cpu;
}

void spin_unlock(spinlock_t *lock)
{
	int cpu = smp_processor_id();

	if (lock->owner != cpu) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "unlock of class %u owned by %d", lock->class,
			   lock->owner);
		return;
	}
	lock->owner = SPIN_LOCK_UNOWNED;
	lockdep_release(lock, lock->class);
	preempt_enable();
	sim_interleave();
}

bool spin_is_locked_by_me(const spinlock_t *lock)
{
	return lock->owner == smp_processor_id();
}
