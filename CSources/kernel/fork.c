// SPDX-License-Identifier: GPL-2.0
/* mm_struct lifetime, and fork's copy of an address space. */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>

static struct mm_struct *mm_init(struct mm_struct *mm)
{
	mm->mmap = NULL;
	mm->map_count = 0;
	mm->mm_users = 1;
	mm->mm_count = 1;
	cpus_clear(mm->cpu_vm_mask);
	mm->anon_rss = 0;
	mm->file_rss = 0;
	mm->nr_ptes = 0;
	mm->swap_ents = 0;
	mm->anon_vma = NULL;
	INIT_LIST_HEAD(&mm->anon_vma_node);
	mm->free_area_cache = 0;
	init_rwsem_class(&mm->mmap_sem, LOCK_CLASS_MMAP_SEM);
	spin_lock_init_class(&mm->page_table_lock, LOCK_CLASS_MM_PTL);
	mm->pgd = pgd_alloc(mm);
	if (!mm->pgd)
		goto fail_pgd;
	if (sim_mm_register(mm))
		goto fail_register;
	return mm;

fail_register:
	pgd_free(mm->pgd);
fail_pgd:
	kfree(mm);
	return NULL;
}

/* A new, empty address space with one user */
struct mm_struct *mm_alloc(void)
{
	struct mm_struct *mm = kzalloc(sizeof(*mm), GFP_KERNEL);

	if (!mm)
		return NULL;
	mm->total_vm = 0;
	if (!mm_init(mm))
		return NULL;
	/* a family of its own (__GFP_NOFAIL) */
	anon_vma_prepare(mm);
	return mm;
}

/* The last reference to the struct itself: free the pgd and the struct */
static void __mmdrop(struct mm_struct *mm)
{
	BUG_ON(mm->mmap || mm->nr_ptes);
	anon_vma_unlink(mm);
	pgd_free(mm->pgd);
	sim_mm_unregister(mm);
	kfree(mm);
}

void mmdrop(struct mm_struct *mm)
{
	if (--mm->mm_count == 0)
		__mmdrop(mm);
}

/* The last user is gone: tear the address space down */
void mmput(struct mm_struct *mm)
{
	if (--mm->mm_users)
		return;
	down_write(&mm->mmap_sem);
	exit_mmap(mm);
	up_write(&mm->mmap_sem);
	mmdrop(mm);
}

static int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm)
{
	struct vm_area_struct *mpnt, *tmp, **pprev = &mm->mmap;
	int retval = 0;

	down_write(&oldmm->mmap_sem);
	down_write_nested(&mm->mmap_sem, SINGLE_DEPTH_NESTING);
	/* the child's anonymous pages are the parent's: one family */
	anon_vma_link(mm, oldmm);
	/* under mmap_sem: another thread may be unmapping */
	mm->total_vm = oldmm->total_vm;
	for (mpnt = oldmm->mmap; mpnt; mpnt = mpnt->vm_next) {
		tmp = vm_area_dup(mpnt);
		if (!tmp) {
			retval = -ENOMEM;
			break;
		}
		tmp->vm_mm = mm;
		*pprev = tmp;
		pprev = &tmp->vm_next;
		mm->map_count++;
		retval = copy_page_range(mm, oldmm, mpnt);
		if (retval)
			break;
	}
	up_write(&mm->mmap_sem);
	/* the parent's ptes were write-protected: no CPU may keep writing */
	flush_tlb_mm(oldmm);
	up_write(&oldmm->mmap_sem);
	return retval;
}

/**
 * dup_mm - fork's copy-on-write duplicate of @oldmm
 *
 * Return: the child's mm, or NULL when memory ran out (anything already
 * built for the child is torn down again).
 */
struct mm_struct *dup_mm(struct mm_struct *oldmm)
{
	struct mm_struct *mm = kzalloc(sizeof(*mm), GFP_KERNEL);

	if (!mm)
		return NULL;
	if (!mm_init(mm))
		return NULL;
	if (dup_mmap(mm, oldmm)) {
		mmput(mm);
		return NULL;
	}
	count_vm_event(forks);
	return mm;
}
