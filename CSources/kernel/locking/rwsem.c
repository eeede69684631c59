// SPDX-License-Identifier: GPL-2.0
/*
 * Reader-writer semaphores of the simulated CPUs (see <linux/rwsem.h>).
 * Contention is a bug in the sequential regime and a wait in the
 * concurrent one.
 */
#include <linux/mm.h>
#include "lockdep.h"

void init_rwsem_class(struct rw_semaphore *sem, u32 class)
{
	sem->writer = -1;
	sem->readers = 0;
	sem->class = class;
}

/* A sleeping lock: never with preemption disabled or a spinlock held */
static void might_sleep(const char *func)
{
	if (preempt_count())
		sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, func,
			   "sleeping lock taken with preempt count %d",
			   preempt_count());
}

static bool no_writer(const void *sem)
{
	return ((const struct rw_semaphore *)sem)->writer < 0;
}

static bool unheld(const void *arg)
{
	const struct rw_semaphore *sem = arg;

	return sem->writer < 0 && !sem->readers;
}

void down_read(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();

	might_sleep(__func__);
	sim_interleave();
	lockdep_acquire(sem, sem->class, 0);
	if (sem->writer >= 0) {
		sim_stat_inc(sem_contended);
		if (sim_concurrent())
			sim_spin_until(no_writer, sem);
		else
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "read of a semaphore cpu %d holds for writing",
				   sem->writer);
	}
	sem->readers |= 1U << cpu;
	if (!per_cpu(op_locked, cpu))
		per_cpu(op_locked, cpu) = sim_clock();
}

void up_read(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();

	if (!(sem->readers & (1U << cpu))) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "%s of a semaphore not held for reading", __func__);
		return;
	}
	sim_mmap_sem_release(sem);
	sem->readers &= ~(1U << cpu);
	lockdep_release(sem, sem->class);
	per_cpu(op_effect, cpu) = sim_clock();
	sim_interleave();
}

void down_write_nested(struct rw_semaphore *sem, int subclass)
{
	int cpu = smp_processor_id();

	might_sleep(__func__);
	sim_interleave();
	lockdep_acquire(sem, sem->class, subclass);
	if (sem->writer >= 0 || sem->readers) {
		sim_stat_inc(sem_contended);
		if (sim_concurrent())
			sim_spin_until(unheld, sem);
		else
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "write of a semaphore held (writer %d, readers %#x)",
				   sem->writer, sem->readers);
	}
	sem->writer = cpu;
	if (!per_cpu(op_locked, cpu))
		per_cpu(op_locked, cpu) = sim_clock();
}

void up_write(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();

	if (sem->writer != cpu) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "%s of a semaphore held by %d", __func__,
			   sem->writer);
		return;
	}
	sim_mmap_sem_release(sem);
	sem->writer = -1;
	lockdep_release(sem, sem->class);
	per_cpu(op_effect, cpu) = sim_clock();
	sim_interleave();
}
