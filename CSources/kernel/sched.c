// SPDX-License-Identifier: GPL-2.0
/*
 * Context switches of the simulated CPUs and the x86 mm switch with lazy
 * TLB.  A CPU holds a reference (mm_count) on its active_mm, whether it
 * runs that mm's user code or only borrows it as a kernel thread.
 */
#include <linux/mm.h>
#include <asm/mmu_context.h>
#include <asm/tlbflush.h>

static long pgd_pfn_of(struct mm_struct *mm)
{
	return page_to_pfn(virt_to_page(mm->pgd));
}

void enter_lazy_tlb(struct mm_struct *mm)
{
	int cpu = smp_processor_id();

	sim_mmu_lock(cpu);
	if (per_cpu(cpu_tlbstate, cpu).state == TLBSTATE_OK)
		per_cpu(cpu_tlbstate, cpu).state = TLBSTATE_LAZY;
	sim_mmu_unlock(cpu);
}

/**
 * switch_mm - load @next's page tables on this CPU
 *
 * Switching back to the mm a lazy CPU still borrows needs no cr3 reload,
 * unless a flush IPI made the CPU leave the mm in the meantime: then it is
 * no longer in cpu_vm_mask, may have missed flushes, and must reload.
 */
void switch_mm(struct mm_struct *prev, struct mm_struct *next)
{
	int cpu = smp_processor_id();

	sim_mmu_check_no_stale(__func__);
	per_cpu(cpu_tlbstate, cpu).state = TLBSTATE_OK;
	if (prev != next) {
		if (prev)
			cpu_clear(cpu, prev->cpu_vm_mask);
		per_cpu(cpu_tlbstate, cpu).active_mm = next;
		cpu_set(cpu, next->cpu_vm_mask);
		native_write_cr3(pgd_pfn_of(next));
		return;
	}
	if (!cpu_isset(cpu, next->cpu_vm_mask)) {
		cpu_set(cpu, next->cpu_vm_mask);
		native_write_cr3(pgd_pfn_of(next));
	}
}

/**
 * context_switch_to - run a task of @mm on this CPU, or a kernel thread
 *	(lazy TLB) when @mm is NULL
 */
void context_switch_to(struct mm_struct *mm)
{
	struct task_struct *tsk = current;
	struct mm_struct *prev = tsk->active_mm;

	if (!mm) {
		if (tsk->mm) {
			tsk->mm = NULL;
			enter_lazy_tlb(prev);
		}
		return;
	}
	if (tsk->mm == mm)
		return;
	mm->mm_count++;
	/* an IPI handler on another host thread reads cpu_tlbstate */
	sim_mmu_lock(smp_processor_id());
	switch_mm(prev, mm);
	sim_mmu_unlock(smp_processor_id());
	tsk->mm = mm;
	tsk->active_mm = mm;
	if (prev)
		mmdrop(prev);
}

/*
 * The CPU goes idle on init_mm: it gives up whatever mm it borrows, as a
 * CPU does when it finally switches to a task without one (and as Linux's
 * idle task does before its CPU goes offline).
 */
void idle_task_exit(void)
{
	struct task_struct *tsk = current;
	struct mm_struct *prev = tsk->active_mm;
	int cpu = smp_processor_id();

	sim_mmu_check_no_stale(__func__);
	tsk->mm = NULL;
	tsk->active_mm = NULL;
	if (!prev)
		return;
	sim_mmu_lock(cpu);
	cpu_clear(cpu, prev->cpu_vm_mask);
	per_cpu(cpu_tlbstate, cpu).state = TLBSTATE_LAZY;
	per_cpu(cpu_tlbstate, cpu).active_mm = NULL;
	native_write_cr3(-1);
	sim_mmu_unlock(cpu);
	mmdrop(prev);
}
