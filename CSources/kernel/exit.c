// SPDX-License-Identifier: GPL-2.0
/* A task gives up its address space. */
#include <linux/mm.h>
#include <asm/mmu_context.h>

/* This CPU runs its idle thread, borrowing the mm in lazy TLB mode */
static void switch_to_idle(void *unused)
{
	context_switch_to(NULL);
}

/**
 * mm_release_cpus - @mm's last task is leaving it
 *
 * Other CPUs that still show a task of @mm running only do so because the
 * driver ran it there last: the task has since migrated to this CPU, and
 * they run their idle threads, borrowing @mm in lazy TLB mode.
 */
void mm_release_cpus(struct mm_struct *mm)
{
	int cpu, self = smp_processor_id();

	/* host threads only run the mms they hold: no other CPU runs @mm */
	if (sim_threaded())
		return;

	for (cpu = 0; cpu < num_online_cpus(); cpu++) {
		if (cpu == self || per_cpu(task, cpu).mm != mm)
			continue;
		smp_call_function_single(cpu, switch_to_idle, NULL, 1);
	}
}

/**
 * exit_mm - the current task lets go of its mm
 *
 * The CPU keeps the mm as active_mm in lazy TLB mode, as exiting tasks do
 * until the next switch.
 */
void exit_mm(void)
{
	struct mm_struct *mm = current->mm;

	current->mm = NULL;
	enter_lazy_tlb(mm);
	if (mm->mm_users == 1)
		mm_release_cpus(mm);
	count_vm_event(exits);
	mmput(mm);
}
