// SPDX-License-Identifier: GPL-2.0
/*
 * madvise(): MADV_DONTNEED drops the pages of a range and keeps the vmas;
 * MADV_HUGEPAGE and MADV_NOHUGEPAGE mark them (mm/huge_memory.c).
 */
#include <linux/mm.h>

static long do_madvise(struct mm_struct *mm, unsigned long start,
		       size_t len_in, int behavior)
{
	struct vm_area_struct *vma, *prev;
	unsigned long end, tmp, len;
	long unmapped_error = 0;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (behavior != MADV_DONTNEED && behavior != MADV_HUGEPAGE &&
	    behavior != MADV_NOHUGEPAGE)
		return -EINVAL;
	len = (len_in + ~PAGE_MASK) & PAGE_MASK;
	if (len_in && !len)
		return -EINVAL;
	end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;

	vma = find_vma_prev(mm, start, &prev);
	for (;;) {
		if (!vma)
			return -ENOMEM;
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
			if (start >= end)
				return unmapped_error;
		}
		tmp = min(vma->vm_end, end);
		if (behavior != MADV_DONTNEED) {
			long err = madvise_hugepage(vma, &prev, start, tmp,
						    behavior);

			if (err)
				return err;
			/* merged with the next vma: go on after all of it */
			vma = prev;
			if (vma->vm_end > tmp)
				tmp = min(vma->vm_end, end);
		} else {
			/* a shared pte table gets the zap of its own copy */
			if (unshare_range(mm, start, tmp, false))
				return -ENOMEM;
			zap_page_range(vma, start, tmp - start);
		}
		start = tmp;
		if (start >= end)
			return unmapped_error;
		vma = vma->vm_next;
	}
}

/**
 * sys_madvise - advise about [@start, @start + @len)
 *
 * MADV_DONTNEED: private pages read back as zeroes afterwards, shared
 * ones as they were (they stay in the shmem object).  It only changes
 * ptes, so mmap_sem is held for reading: faults run beside it.
 * MADV_HUGEPAGE and MADV_NOHUGEPAGE change vmas: mmap_sem for writing.
 *
 * Return: 0; -EINVAL for a bad start, length or advice; -ENOMEM when part
 * of the range is unmapped (the mapped parts are still handled), or a
 * vma could not be split.
 */
long sys_madvise(struct mm_struct *mm, unsigned long start, size_t len_in,
		 int behavior)
{
	bool write = behavior == MADV_HUGEPAGE || behavior == MADV_NOHUGEPAGE;
	long err;

	if (write)
		down_write(&mm->mmap_sem);
	else
		down_read(&mm->mmap_sem);
	err = do_madvise(mm, start, len_in, behavior);
	if (write)
		up_write(&mm->mmap_sem);
	else
		up_read(&mm->mmap_sem);
	return err;
}
