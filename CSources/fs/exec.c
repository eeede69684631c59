// SPDX-License-Identifier: GPL-2.0
/* execve()'s switch to a fresh address space. */
#include <linux/mm.h>
#include <asm/mmu_context.h>

/**
 * exec_mmap - make @mm the current task's address space
 *
 * The old mm loses a user (and is torn down if it was the last); the CPU
 * trades its reference on the old active_mm for one on @mm.
 */
int exec_mmap(struct mm_struct *mm)
{
	struct task_struct *tsk = current;
	struct mm_struct *old_mm = tsk->mm;
	struct mm_struct *active_mm = tsk->active_mm;

	mm->mm_count++;
	switch_mm(active_mm, mm);
	tsk->mm = mm;
	tsk->active_mm = mm;
	if (old_mm)
		mmput(old_mm);
	if (active_mm)
		mmdrop(active_mm);
	return 0;
}
