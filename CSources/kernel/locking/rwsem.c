// SPDX-License-Identifier: GPL-2.0
/*
 * Reader-writer semaphores of the simulated CPUs (see <linux/rwsem.h>).
 * Contention is a bug in the sequential regime and a wait in the
 * concurrent one, a spin on the state word in the threaded one.
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

/* The state word: the writer in the low half, the readers' mask above */
#define SEM_WORD(writer, readers) \
	((u64)(u32)(writer) | (u64)(readers) << 32)
#define SEM_UNHELD		SEM_WORD(-1, 0)
#define SEM_READER(cpu)		(1ULL << (32 + (cpu)))

static bool sem_word_has_writer(u64 word)
{
	return (s32)(u32)word >= 0;
}

/* The threaded regime: add this CPU to the readers once no one writes */
static void down_read_threaded(struct rw_semaphore *sem, int cpu)
{
	u64 old = __atomic_load_n(&sem->word, __ATOMIC_RELAXED);
	unsigned int spins = 0;
	bool counted = false;

	for (;;) {
		if (!sem_word_has_writer(old)) {
			if (__atomic_compare_exchange_n(&sem->word, &old,
							old | SEM_READER(cpu),
							false,
							__ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return;
			continue;
		}
		if (!counted)
			count_vm_event(sem_contended);
		counted = true;
		sim_spin_pause(&spins);
		old = __atomic_load_n(&sem->word, __ATOMIC_RELAXED);
	}
}

/* The threaded regime: take the word from unheld to this CPU writing */
static void down_write_threaded(struct rw_semaphore *sem, int cpu)
{
	unsigned int spins = 0;
	bool counted = false;
	u64 old = SEM_UNHELD;

	while (!__atomic_compare_exchange_n(&sem->word, &old,
					    SEM_WORD(cpu, 0), false,
					    __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (!counted)
			count_vm_event(sem_contended);
		counted = true;
		sim_spin_pause(&spins);
		old = SEM_UNHELD;
	}
}

void down_read(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();

	might_sleep(__func__);
	sim_interleave();
	lockdep_acquire(sem, sem->class, 0);
	if (unlikely(sim_threaded())) {
		down_read_threaded(sem, cpu);
		return;
	}
	if (sem->writer >= 0) {
		count_vm_event(sem_contended);
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

/**
 * down_read_trylock - take @sem for reading if no one writes it
 *
 * Never waits, so it may be called under a spinlock.  Not in the
 * threaded regime (nothing there calls it).  Return: 1 if taken.
 */
int down_read_trylock(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();

	BUG_ON(sim_threaded());
	sim_interleave();
	if (sem->writer >= 0)
		return 0;
	lockdep_acquire_trylock(sem, sem->class);
	sem->readers |= 1U << cpu;
	return 1;
}

void up_read(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();
	u64 word = __atomic_load_n(&sem->word, __ATOMIC_RELAXED);

	if (!(word & SEM_READER(cpu))) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "%s of a semaphore not held for reading", __func__);
		return;
	}
	debug_check_mmap_sem_release(sem);
	if (unlikely(sim_threaded()))
		__atomic_fetch_and(&sem->word, ~SEM_READER(cpu),
				   __ATOMIC_RELEASE);
	else
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
	if (unlikely(sim_threaded())) {
		down_write_threaded(sem, cpu);
		return;
	}
	if (sem->writer >= 0 || sem->readers) {
		count_vm_event(sem_contended);
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
	s32 writer = (s32)(u32)__atomic_load_n(&sem->word, __ATOMIC_RELAXED);

	if (writer != cpu) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
			   "%s of a semaphore held by %d", __func__, writer);
		return;
	}
	debug_check_mmap_sem_release(sem);
	if (unlikely(sim_threaded()))
		__atomic_store_n(&sem->word, SEM_UNHELD, __ATOMIC_RELEASE);
	else
		sem->writer = -1;
	lockdep_release(sem, sem->class);
	per_cpu(op_effect, cpu) = sim_clock();
	sim_interleave();
}
