// SPDX-License-Identifier: GPL-2.0
/*
 * TLB shootdown on the simulated SMP machine, as i386 did it in 2.6.16:
 * flush locally, then send the invalidate IPI to every other CPU in the
 * mm's cpu_vm_mask.  A CPU in lazy TLB mode that receives it leaves the mm
 * altogether (leave_mm) rather than flushing, so it gets no further IPIs.
 */
#include <linux/mm.h>
#include <asm/tlbflush.h>

/* The CPU stops using @cpu's borrowed mm: swapper_pg_dir, out of the mask */
void leave_mm(int cpu)
{
	struct mm_struct *active = per_cpu(cpu_tlbstate, cpu).active_mm;

	BUG_ON(per_cpu(cpu_tlbstate, cpu).state == TLBSTATE_OK);
	if (active)
		cpu_clear(cpu, active->cpu_vm_mask);
	native_write_cr3(-1);
}

/* The invalidate IPI handler, run on the receiving CPU */
static void smp_invalidate_interrupt(struct mm_struct *flush_mm,
				     unsigned long flush_va)
{
	int cpu = smp_processor_id();

	/* no mm: a shared pte table's entry, whatever this CPU runs */
	if (flush_mm && flush_mm != per_cpu(cpu_tlbstate, cpu).active_mm)
		return;
	if (per_cpu(cpu_tlbstate, cpu).state == TLBSTATE_OK) {
		if (flush_va == FLUSH_ALL)
			__flush_tlb();
		else
			__flush_tlb_one(flush_va);
	} else {
		leave_mm(cpu);
	}
}

/* An interrupt is taken between instructions: not in a page walk */
static bool cpu_between_instructions(const void *cpu)
{
	return !per_cpu(in_walk, (long)cpu);
}

/* Return: the IPIs sent */
int flush_tlb_others(cpumask_t cpumask, struct mm_struct *mm,
		     unsigned long va)
{
	int cpu, self = smp_processor_id(), sent = 0;

	BUG_ON(cpus_empty(cpumask) || cpu_isset(self, cpumask));
	for_each_cpu_mask(cpu, cpumask) {
		sim_interleave();
		sim_spin_until(cpu_between_instructions, (void *)(long)cpu);
		count_vm_tlb_event(ipis);
		sent++;
		sim_mmu_lock(cpu);
		if (per_cpu(cpu_tlbstate, cpu).state == TLBSTATE_LAZY)
			count_vm_tlb_event(ipis_lazy);
		sim_cpu = cpu;
		smp_invalidate_interrupt(mm, va);
		sim_cpu = self;
		sim_mmu_unlock(cpu);
	}
	return sent;
}

/* What the local CPU does for @mm, before the remote ones are told */
static void flush_local(struct mm_struct *mm, unsigned long va)
{
	if (current->active_mm != mm)
		return;
	if (!current->mm)
		leave_mm(smp_processor_id());
	else if (va == FLUSH_ALL)
		__flush_tlb();
	else
		__flush_tlb_one(va);
}

static void flush_tlb_mm_va(struct mm_struct *mm, unsigned long va)
{
	cpumask_t cpu_mask;

	count_vm_tlb_event(tlb_flush_calls);
	preempt_disable();
	smp_mb();	/* the ptes cleared before the mask is read */
	cpu_mask = cpumask_read(mm->cpu_vm_mask);
	cpu_clear(smp_processor_id(), cpu_mask);
	flush_local(mm, va);
	if (!cpus_empty(cpu_mask))
		flush_tlb_others(cpu_mask, mm, va);
	sim_tlb_flushed(mm, va);
	preempt_enable();
}

void flush_tlb_mm(struct mm_struct *mm)
{
	flush_tlb_mm_va(mm, FLUSH_ALL);
}

void flush_tlb_page(struct vm_area_struct *vma, unsigned long va)
{
	flush_tlb_mm_va(vma->vm_mm, va);
}

/* i386 had no ranged flush: a range is the whole mm */
void flush_tlb_range(struct vm_area_struct *vma, unsigned long start,
		     unsigned long end)
{
	flush_tlb_mm(vma->vm_mm);
}

/* The CPUs that may cache a translation of a sharer of @table */
static cpumask_t sharers_cpumask(struct page *table)
{
	struct pt_sharer *s;
	cpumask_t mask;

	cpus_clear(mask);
	for (s = table->sharers; s; s = s->next)
		mask.bits |= cpumask_read(s->mm->cpu_vm_mask).bits;
	return mask;
}

/**
 * flush_tlb_shared - flush @va from every CPU that may translate through
 *	@table, a pte table several mms share (its lock held)
 *
 * With sharemask=all, every CPU: no mm's cpu_vm_mask covers a table that
 * is not the mm's alone (Linus's rule of 2002).  With sharemask=precise,
 * the union of the sharers' masks, read after the entry changed: a CPU
 * that switches to a sharer later walks the changed table.
 */
void flush_tlb_shared(struct page *table, unsigned long va)
{
	int self = smp_processor_id();
	struct mm_struct *active = current->active_mm;
	struct pt_sharer *s;
	cpumask_t mask;

	count_vm_tlb_event(tlb_flush_calls);
	count_vm_tlb_event(shared_flushes);
	preempt_disable();
	smp_mb();	/* the entry changed before the masks are read */
	if (sharemask_precise()) {
		mask = sharers_cpumask(table);
	} else {
		cpus_clear(mask);
		mask.bits = (1ULL << num_online_cpus()) - 1;
	}
	for (s = table->sharers; s; s = s->next)
		if (s->mm == active)
			flush_local(active, va);
	cpu_clear(self, mask);
	if (!cpus_empty(mask))
		count_vm_tlb_events(shared_flush_ipis,
				    flush_tlb_others(mask, NULL, va));
	for (s = table->sharers; s; s = s->next)
		sim_tlb_flushed(s->mm, va);
	preempt_enable();
}
