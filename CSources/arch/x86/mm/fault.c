// SPDX-License-Identifier: GPL-2.0
/* User accesses, and the page-fault handler they enter. */
#include <linux/mm.h>

/**
 * do_page_fault - the #PF handler
 * @address: the faulting user address
 * @error_code: x86's PF_* bits
 *
 * Return: 0 when the access may be retried, -EFAULT for SIGSEGV, -ENOMEM
 * when the fault handler ran out of memory.
 */
static int do_page_fault(unsigned long address, int error_code)
{
	struct mm_struct *mm = current->mm;
	bool write = error_code & PF_WRITE;
	struct vm_area_struct *vma;
	int fault, ret = -EFAULT;

	down_read(&mm->mmap_sem);
	vma = find_vma(mm, address);
	if (!vma || vma->vm_start > address)
		goto bad_area;
	if (write) {
		if (!(vma->vm_flags & VM_WRITE))
			goto bad_area;
	} else {
		if (error_code & PF_PROT)
			goto bad_area;
		if (!(vma->vm_flags & (VM_READ | VM_EXEC)))
			goto bad_area;
	}
	fault = handle_mm_fault(mm, vma, address, write);
	if (fault & VM_FAULT_OOM)
		ret = -ENOMEM;
	else if (!(fault & VM_FAULT_SIGSEGV))
		ret = 0;
bad_area:
	up_read(&mm->mmap_sem);
	return ret;
}

/**
 * sim_user_access - a load or store of one word by user code
 *
 * Runs the access through this CPU's MMU, entering the fault handler as
 * the hardware would, until it completes or the task gets a signal.  Other
 * CPUs may undo what a fault did before the access is retried, so the
 * concurrent regime allows more retries.
 */
int sim_user_access(unsigned long address, bool write, u64 *val)
{
	int tries, code, err, max_tries = 4;
	u32 pfn;

	if (address >= TASK_SIZE)
		return -EFAULT;
	if (sim_concurrent() || sim_threaded())
		max_tries = 64;
	sim_mmu_check_no_stale(__func__);
	for (tries = 0; tries < max_tries; tries++) {
		u64 *word;

		sim_interleave();
		/* no IPI between the translation and the access */
		sim_mmu_lock(smp_processor_id());
		code = sim_mmu_translate(address, write, &pfn);
		if (!code) {
			word = __va(((u64)pfn << PAGE_SHIFT) |
				    (address & ~PAGE_MASK));
			if (write)
				WRITE_ONCE(*word, *val);
			else
				*val = READ_ONCE(*word);
			sim_mmu_unlock(smp_processor_id());
			__get_cpu_var(op_effect) = sim_clock();
			return 0;
		}
		sim_mmu_unlock(smp_processor_id());
		err = do_page_fault(address, code);
		if (err)
			return err;
	}
	sim_report(MMSIM_V_BUG, smp_processor_id(), address, -1, __func__,
		   "the fault handler made no progress");
	return -EFAULT;
}
