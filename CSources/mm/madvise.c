// SPDX-License-Identifier: GPL-2.0
/* madvise(MADV_DONTNEED): drop the pages of a range, keep the vmas. */
#include <linux/mm.h>

static long do_madvise(struct mm_struct *mm, unsigned long start,
		       size_t len_in, int behavior)
{
	struct vm_area_struct *vma, *prev;
	unsigned long end, tmp, len;
	long unmapped_error = 0;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (behavior != MADV_DONTNEED)
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
		/* a shared pte table gets the zap of a copy of its own */
		if (unshare_range(mm, start, tmp, false))
			return -ENOMEM;
		zap_page_range(vma, start, tmp - start);
		start = tmp;
		if (start >= end)
			return unmapped_error;
		vma = vma->vm_next;
	}
}

/**
 * sys_madvise - advise about [@start, @start + @len)
 *
 * Only MADV_DONTNEED is implemented: private pages read back as zeroes
 * afterwards, shared ones as they were (they stay in the shmem object).
 * It only changes ptes, so mmap_sem is held for reading: faults run
 * beside it.
 *
 * Return: 0; -EINVAL for a bad start, length or advice; -ENOMEM when part
 * of the range is unmapped (the mapped parts are still handled).
 */
long sys_madvise(struct mm_struct *mm, unsigned long start, size_t len_in,
		 int behavior)
{
	long err;

	down_read(&mm->mmap_sem);
	err = do_madvise(mm, start, len_in, behavior);
	up_read(&mm->mmap_sem);
	return err;
}
