/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/rwsem.h>
#include <linux/cpumask.h>
#include <asm/pgtable_types.h>

struct address_space;
struct anon_vma;
struct pt_sharer;

/*
 * struct page - one per physical frame.
 *
 * @_count counts references (0: free), @_mapcount the ptes that map the
 * page, biased by -1 as in the kernel; a pte in a pte table shared by
 * several mms is one pte.  A page-table page keeps its split lock in
 * @ptl; a pte table's @_count is its share count, the number of pmd
 * entries that point at it, and @sharers lists the mms that share it
 * (mm/pt_share.c).  An anonymous page's @anon_vma and @index (its
 * virtual page number, the same in every mm of the fork family) are its
 * reverse map (mm/rmap.c); in the swap cache, @private is its swap slot.
 * A 2 MiB compound page is 512 aligned frames: the head (PG_head) holds
 * the references of the whole (@_count: one per huge pmd that maps it and
 * one per pte that maps any of its frames) and, in @compound_mapcount,
 * the huge pmds that map it; each frame's @_mapcount counts the ptes that
 * map that frame.  A pmd table page keeps the pte tables deposited for
 * its huge pmds in @pmd_huge_pte (mm/huge_memory.c).
 * @sim_gen and @sim_hwrefs belong to the simulated hardware: the frame's
 * generation (bumped at every free) and how many TLB or paging-structure
 * cache entries of any CPU refer to it.
 */
struct page {
	_Atomic unsigned long flags;
	_Atomic int _count;
	_Atomic int _mapcount;
	struct address_space *mapping;	/* shmem object, if a shared page */
	struct anon_vma *anon_vma;	/* fork family, if an anonymous page */
	unsigned long index;		/* offset in @mapping, or the vpn */
	unsigned long private;		/* swap slot, in the swap cache */
	spinlock_t ptl;
	struct list_head lru;
	struct pt_sharer *sharers;	/* a pte table fork shared */
	_Atomic int compound_mapcount;	/* head: huge pmds mapping it */
	struct page *pmd_huge_pte;	/* pmd table: deposited pte tables */
	_Atomic u32 sim_gen;
	_Atomic u32 sim_hwrefs;
};

enum pageflags {
	PG_anon,		/* private anonymous page */
	PG_pgtable,		/* a page-table page of any level */
	PG_buddy,		/* free, in the page allocator */
	PG_locked,		/* reclaim owns it: swap-in waits */
	PG_swapcache,		/* in the swap cache, @private is its slot */
	PG_dirty,		/* differs from its copy in swap, if any */
	PG_head,		/* first frame of a 2 MiB compound page */
	PG_tail,		/* any other frame of one */
};

#define PAGE_FLAG_FNS(uname, lname)					\
static inline int Page##uname(const struct page *page)			\
{									\
	return !!(page->flags & (1UL << PG_##lname));			\
}									\
static inline void SetPage##uname(struct page *page)			\
{									\
	page->flags |= 1UL << PG_##lname;				\
}									\
static inline void ClearPage##uname(struct page *page)			\
{									\
	page->flags &= ~(1UL << PG_##lname);				\
}

PAGE_FLAG_FNS(Anon, anon)
PAGE_FLAG_FNS(Pgtable, pgtable)
PAGE_FLAG_FNS(Buddy, buddy)
PAGE_FLAG_FNS(Locked, locked)
PAGE_FLAG_FNS(SwapCache, swapcache)
PAGE_FLAG_FNS(Dirty, dirty)
PAGE_FLAG_FNS(Head, head)
PAGE_FLAG_FNS(Tail, tail)

static inline int PageCompound(const struct page *page)
{
	return !!(page->flags & ((1UL << PG_head) | (1UL << PG_tail)));
}

struct mm_struct;

struct vm_area_struct {
	struct mm_struct *vm_mm;
	unsigned long vm_start;		/* first byte */
	unsigned long vm_end;		/* first byte after */
	struct vm_area_struct *vm_next;	/* sorted by address */
	pgprot_t vm_page_prot;
	unsigned long vm_flags;
	unsigned long vm_pgoff;		/* offset in vm_file, in pages */
	struct address_space *vm_file;	/* shmem object of a shared vma */
};

/**
 * struct mm_struct - an address space.
 * @mmap: vmas, sorted by address.
 * @pgd: the top-level page table, in a frame of its own.
 * @mm_users: tasks using the address space; the last one tears it down.
 * @mm_count: references to the struct itself (one for all users, one for
 *	every CPU that holds it as active_mm in lazy TLB mode).
 * @mmap_sem: held for writing by calls that change the vmas (mmap,
 *	munmap, mprotect, fork, exit), for reading by faults and
 *	MADV_DONTNEED, which only change ptes.
 * @page_table_lock: with ptl=mm it guards every page-table entry; with
 *	ptl=split only the population of upper levels.
 * @cpu_vm_mask: CPUs that may hold TLB entries for this mm.
 * @tlb_flush_pending: mmu_gathers under way on this mm.  Two at once
 *	(MADV_DONTNEEDs of one range) means one may find ptes the other has
 *	cleared and not yet flushed: each must then flush before it returns.
 * @anon_vma: the reverse map's family: this mm and every mm forked from
 *	it or that it was forked from, since the last exec.
 * @swap_ents: ptes of this mm that are swap entries (MM_SWAPENTS); like
 *	the rss counters it counts the entries of shared pte tables too.
 */
struct mm_struct {
	struct vm_area_struct *mmap;
	pgd_t *pgd;
	_Atomic int mm_users;
	_Atomic int mm_count;
	int map_count;
	int id;
	struct rw_semaphore mmap_sem;
	spinlock_t page_table_lock;
	cpumask_t cpu_vm_mask;
	int tlb_flush_pending;
	unsigned long free_area_cache;
	unsigned long total_vm;
	_Atomic unsigned long anon_rss;	/* atomic: split ptlocks */
	_Atomic unsigned long file_rss;
	_Atomic unsigned long nr_ptes;
	_Atomic unsigned long swap_ents;
	struct anon_vma *anon_vma;
	struct list_head anon_vma_node;	/* in anon_vma->mms */
};

#endif /* _LINUX_MM_TYPES_H */
