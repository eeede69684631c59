// SPDX-License-Identifier: GPL-2.0
/* mmap, munmap and exit_mmap: the vma list and unmapping whole regions. */
#include <linux/mm.h>
#include <linux/shmem_fs.h>
#include <asm/tlbflush.h>
#include <asm-generic/tlb.h>

#define TASK_UNMAPPED_BASE	PAGE_ALIGN(TASK_SIZE / 3)
#define DEFAULT_MAX_MAP_COUNT	65530

struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig)
{
	struct vm_area_struct *new = kmalloc(sizeof(*new), GFP_KERNEL);

	if (!new)
		return NULL;
	*new = *orig;
	new->vm_next = NULL;
	if (new->vm_file)
		shmem_get(new->vm_file);
	return new;
}

void remove_vma(struct vm_area_struct *vma)
{
	if (vma->vm_file)
		shmem_put(vma->vm_file);
	kfree(vma);
}

/* The first vma that ends above @addr */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma;

	for (vma = mm->mmap; vma; vma = vma->vm_next)
		if (addr < vma->vm_end)
			return vma;
	return NULL;
}

/* Same as find_vma(), and the vma before it in @pprev */
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr,
				     struct vm_area_struct **pprev)
{
	struct vm_area_struct *vma, *prev = NULL;

	for (vma = mm->mmap; vma; prev = vma, vma = vma->vm_next)
		if (addr < vma->vm_end)
			break;
	*pprev = prev;
	return vma;
}

static void vma_link(struct mm_struct *mm, struct vm_area_struct *vma,
		     struct vm_area_struct *prev)
{
	if (prev) {
		vma->vm_next = prev->vm_next;
		prev->vm_next = vma;
	} else {
		vma->vm_next = mm->mmap;
		mm->mmap = vma;
	}
	mm->map_count++;
}

/* Can @a, just below @b, and @b become one vma? */
static bool vma_can_merge(const struct vm_area_struct *a,
			  const struct vm_area_struct *b)
{
	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags ||
	    a->vm_file != b->vm_file)
		return false;
	/* a shared mapping must also be contiguous in its object */
	return !a->vm_file || a->vm_pgoff +
		((a->vm_end - a->vm_start) >> PAGE_SHIFT) == b->vm_pgoff;
}

/**
 * vma_merge - merge @vma with the neighbours it can be one vma with
 *
 * Private anonymous vmas merge whenever they touch and agree on flags, as
 * they do in Linux (neighbours share their anon_vma); shared ones only when
 * they map consecutive offsets of the same object.
 *
 * Return: the vma that now covers @vma's range.
 */
struct vm_area_struct *vma_merge(struct mm_struct *mm,
				 struct vm_area_struct *vma)
{
	struct vm_area_struct *next = vma->vm_next, *prev;

	if (next && vma_can_merge(vma, next)) {
		vma->vm_end = next->vm_end;
		vma->vm_next = next->vm_next;
		mm->map_count--;
		remove_vma(next);
	}
	find_vma_prev(mm, vma->vm_start, &prev);
	if (prev && vma_can_merge(prev, vma)) {
		prev->vm_end = vma->vm_end;
		prev->vm_next = vma->vm_next;
		mm->map_count--;
		remove_vma(vma);
		vma = prev;
	}
	return vma;
}

/**
 * split_vma - cut @vma in two at @addr
 * @new_below: the new vma takes the lower part rather than the upper
 *
 * A huge pmd across @addr is split first, as Linux's
 * vma_adjust_trans_huge() does: no huge pmd spans two vmas.
 *
 * Return: 0, or -ENOMEM when out of memory or of vmas.
 */
int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr, int new_below)
{
	struct vm_area_struct *new, *prev;

	if (mm->map_count >= DEFAULT_MAX_MAP_COUNT)
		return -ENOMEM;
	split_huge_pmd_address(vma, addr);
	new = vm_area_dup(vma);
	if (!new)
		return -ENOMEM;
	if (new_below) {
		new->vm_end = addr;
		vma->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
		vma->vm_start = addr;
		find_vma_prev(mm, new->vm_start, &prev);
		vma_link(mm, new, prev);
	} else {
		new->vm_start = addr;
		new->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
		vma->vm_end = addr;
		vma_link(mm, new, vma);
	}
	return 0;
}

static unsigned long get_unmapped_area(struct mm_struct *mm,
				       unsigned long addr, unsigned long len,
				       unsigned long flags)
{
	struct vm_area_struct *vma;

	if (len > TASK_SIZE)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		if (addr & ~PAGE_MASK)
			return -EINVAL;
		if (addr > TASK_SIZE - len)
			return -ENOMEM;
		return addr;
	}
	if (addr) {
		addr = PAGE_ALIGN(addr);
		vma = find_vma(mm, addr);
		if (addr && TASK_SIZE - len >= addr &&
		    (!vma || addr + len <= vma->vm_start))
			return addr;
	}
	/* first fit, bottom-up from TASK_UNMAPPED_BASE */
	addr = TASK_UNMAPPED_BASE;
	for (vma = find_vma(mm, addr); ; vma = vma->vm_next) {
		if (TASK_SIZE - len < addr)
			return -ENOMEM;
		if (!vma || addr + len <= vma->vm_start)
			return addr;
		addr = vma->vm_end;
	}
}

static unsigned long calc_vm_flags(unsigned long prot, unsigned long flags)
{
	unsigned long vm_flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

	/* x86 without NX cannot map write-only or exec-only: all read */
	if (prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
		vm_flags |= VM_READ;
	if (prot & PROT_WRITE)
		vm_flags |= VM_WRITE;
	if (prot & PROT_EXEC)
		vm_flags |= VM_EXEC;
	if ((flags & MAP_TYPE) == MAP_SHARED)
		vm_flags |= VM_SHARED | VM_MAYSHARE;
	return vm_flags;
}

/**
 * do_mmap_pgoff - map anonymous memory
 *
 * Return: the address of the new mapping, or a negative errno.  Linux
 * ignores mmap flags it does not know; the simulator refuses them with
 * -EINVAL, so that a driver's mistakes show.
 */
long do_mmap_pgoff(struct mm_struct *mm, unsigned long addr,
		   unsigned long len, unsigned long prot, unsigned long flags)
{
	struct vm_area_struct *vma, *prev;
	unsigned long vm_flags;
	long err;

	if (prot & ~(unsigned long)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -EINVAL;
	if (flags & ~(unsigned long)(MAP_SHARED | MAP_PRIVATE | MAP_FIXED |
				     MAP_ANONYMOUS | MAP_IGNORED))
		return -EINVAL;
	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_PRIVATE)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return -EBADF;
	if (!len)
		return -EINVAL;
	len = PAGE_ALIGN(len);
	if (!len || len > TASK_SIZE)
		return -ENOMEM;

	addr = get_unmapped_area(mm, addr, len, flags);
	if (addr & ~PAGE_MASK)
		return (long)addr;
	if (mm->map_count > DEFAULT_MAX_MAP_COUNT)
		return -ENOMEM;

	vm_flags = calc_vm_flags(prot, flags);
	vma = kzalloc(sizeof(*vma), GFP_KERNEL);
	if (!vma)
		return -ENOMEM;
	vma->vm_mm = mm;
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_flags = vm_flags;
	vma->vm_page_prot = vm_get_page_prot(vm_flags);
	if (vm_flags & VM_SHARED) {
		vma->vm_file = shmem_setup(len >> PAGE_SHIFT);
		if (!vma->vm_file) {
			err = -ENOMEM;
			goto free_vma;
		}
	}
	/* MAP_FIXED replaces whatever was there */
	err = do_munmap(mm, addr, len);
	if (err)
		goto free_vma;
	find_vma_prev(mm, addr, &prev);
	vma_link(mm, vma, prev);
	vma_merge(mm, vma);
	mm->total_vm += len >> PAGE_SHIFT;
	return addr;

free_vma:
	remove_vma(vma);
	return err;
}

/*
 * unmap_region - zap the ptes of the detached vmas from @vma, and free
 * the page tables that only they used, under one gather
 */
static void unmap_region(struct mm_struct *mm, struct vm_area_struct *vma,
			 struct vm_area_struct *prev, unsigned long start,
			 unsigned long end)
{
	struct vm_area_struct *next = prev ? prev->vm_next : mm->mmap;
	struct mmu_gather tlb;

	tlb_gather_mmu(&tlb, mm, 0);
	tlb.free_start = start;
	tlb.free_end = end;
	unmap_vmas(&tlb, vma, start, end);
	free_pgtables(&tlb, vma, prev ? prev->vm_end : FIRST_USER_ADDRESS,
		      next ? next->vm_start : 0);
	tlb_finish_mmu(&tlb, start, end);
}

/*
 * Unlink the vmas from @vma up to @end from the mm; they stay chained to
 * each other, NULL-terminated, for unmap_region() and removal.
 */
static void detach_vmas_to_be_unmapped(struct mm_struct *mm,
				       struct vm_area_struct *vma,
				       struct vm_area_struct *prev,
				       unsigned long end)
{
	struct vm_area_struct **insertion_point, *tail_vma = NULL;

	insertion_point = prev ? &prev->vm_next : &mm->mmap;
	do {
		mm->map_count--;
		tail_vma = vma;
		vma = vma->vm_next;
	} while (vma && vma->vm_start < end);
	*insertion_point = vma;
	tail_vma->vm_next = NULL;
}

static void remove_vma_list(struct mm_struct *mm, struct vm_area_struct *vma)
{
	while (vma) {
		struct vm_area_struct *next = vma->vm_next;

		mm->total_vm -= (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
		remove_vma(vma);
		vma = next;
	}
}

/**
 * do_munmap - unmap [@start, @start + @len) of @mm
 *
 * Return: 0; -EINVAL for a bad range; -ENOMEM when a vma could not be
 * split (the range is then left mapped).
 */
int do_munmap(struct mm_struct *mm, unsigned long start, size_t len)
{
	struct vm_area_struct *vma, *prev, *last;
	unsigned long end;

	if ((start & ~PAGE_MASK) || start > TASK_SIZE ||
	    len > TASK_SIZE - start)
		return -EINVAL;
	len = PAGE_ALIGN(len);
	if (!len)
		return -EINVAL;

	vma = find_vma_prev(mm, start, &prev);
	if (!vma)
		return 0;
	end = start + len;
	if (vma->vm_start >= end)
		return 0;
	/* shared pte tables the range covers in part: a copy of its own */
	if (unshare_range(mm, start, end, true))
		return -ENOMEM;

	if (start > vma->vm_start) {
		if (split_vma(mm, vma, start, 0))
			return -ENOMEM;
		prev = vma;
	}
	last = find_vma(mm, end);
	if (last && end > last->vm_start) {
		if (split_vma(mm, last, end, 1))
			return -ENOMEM;
	}
	vma = prev ? prev->vm_next : mm->mmap;

	detach_vmas_to_be_unmapped(mm, vma, prev, end);
	unmap_region(mm, vma, prev, start, end);
	remove_vma_list(mm, vma);
	return 0;
}

/**
 * exit_mmap - tear down every mapping of @mm, whose last user is gone,
 * with a full-mm gather
 */
void exit_mmap(struct mm_struct *mm)
{
	struct vm_area_struct *vma = mm->mmap;
	struct mmu_gather tlb;
	unsigned long end;

	tlb_gather_mmu(&tlb, mm, 1);
	tlb.free_start = 0;
	tlb.free_end = TASK_SIZE;
	end = unmap_vmas(&tlb, vma, 0, -1UL);
	free_pgtables(&tlb, vma, FIRST_USER_ADDRESS, 0);
	tlb_finish_mmu(&tlb, 0, end);

	mm->mmap = NULL;
	mm->map_count = 0;
	remove_vma_list(mm, vma);
	BUG_ON(mm->nr_ptes);
}
