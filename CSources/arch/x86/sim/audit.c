// SPDX-License-Identifier: GPL-2.0
/*
 * Entries from the driver for the whole-machine audits, which run between
 * calls: they enter the machine, run the audits of mm/debug_vm.c and
 * return how many violations were recorded meanwhile (the coherence
 * checks of the hardware count too).
 */
#include <linux/mm.h>

int mmsim_check(struct mmsim *m)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	u32 before = sim->nr_violations;

	audit_vm();
	before = sim->nr_violations - before;
	sim_leave(saved);
	return before;
}

/**
 * mmsim_check_leaks - the leak audit, once every mm has exited
 * @m: the machine
 *
 * Idles every CPU first: a CPU that last ran a kernel thread still
 * borrows the mm it ran before, as a real one does until it switches to a
 * task without one.  Return: the number of leaks found, or -EBUSY while
 * some mm still has users.
 */
int mmsim_check_leaks(struct mmsim *m)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	u32 before = sim->nr_violations;
	struct mm_struct *mm;
	unsigned int cpu;
	int id, found;

	for_each_mm(mm, id) {
		if (mm->mm_users > 0) {
			sim_leave(saved);
			return -EBUSY;
		}
	}
	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		sim_cpu = cpu;
		idle_task_exit();
	}
	sim_cpu = 0;
	audit_vm_leaks();
	found = sim->nr_violations - before;
	sim_leave(saved);
	return found;
}
