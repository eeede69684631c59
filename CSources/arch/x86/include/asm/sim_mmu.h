/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The simulated MMU of one CPU: a set-associative TLB and a
 * paging-structure cache, both of which keep what they hold, right or
 * stale, until invalidated or evicted; the hardware walker that fills them.
 */
#ifndef _ASM_X86_SIM_MMU_H
#define _ASM_X86_SIM_MMU_H

#define TLB_WAYS	4
/* A separate, small TLB for 2 MiB pages, as x86 cores have */
#define TLB2M_ENTRIES	8
#define TLB2M_SETS	(TLB2M_ENTRIES / TLB_WAYS)

struct tlb_entry {
	u64 vpn;		/* virtual page number (2 MiB TLB: of 2 MiB) */
	u32 pfn;		/* (2 MiB TLB: of the first frame) */
	u32 gen;		/* frame generation when filled */
	u8 valid;
	u8 writable;
	u8 dirty;
	u8 stale;		/* frame freed while this CPU held it */
	u64 filled;		/* scheduling step of the fill */
};

/*
 * A cached upper-level entry: for the region @tag (the address shifted
 * right by the level's shift), the walk continues in table frame @pfn.
 */
struct psc_entry {
	u64 tag;
	u32 pfn;
	u32 gen;
	u8 level;		/* PSC_PML4E, PSC_PDPTE or PSC_PDE */
	u8 valid;
	u8 stale;
	u64 filled;
};

enum {
	PSC_PML4E,		/* caches a pgd entry: points at a pud page */
	PSC_PDPTE,		/* caches a pud entry: points at a pmd page */
	PSC_PDE,		/* caches a pmd entry: points at a pte page */
	PSC_LEVELS,
};

struct sim_mmu {
	struct tlb_entry *tlb;
	unsigned int tlb_sets;
	u8 *tlb_victim;		/* round-robin way, per set */
	struct psc_entry *psc;
	unsigned int psc_size;
	unsigned int psc_victim;
	long cr3;		/* pfn of the loaded pgd; -1: swapper_pg_dir */
	int nr_stale;		/* entries marked stale, not yet flushed */
	u64 flushed_vpn[64];	/* recently invalidated vpns, plus one */
	u64 tlb_valid[4096 / 64];	/* bit i: tlb[i].valid */
	struct tlb_entry tlb2m[TLB2M_ENTRIES];
	u8 tlb2m_victim[TLB2M_SETS];
};

int sim_mmu_init(struct sim_mmu *mmu, unsigned int tlb_entries,
		 unsigned int psc_entries);
void sim_mmu_exit(struct sim_mmu *mmu);

/* The privileged instructions the kernel uses */
void native_write_cr3(long pgd_pfn);
void __flush_tlb(void);
void __flush_tlb_one(unsigned long addr);

#define PF_PROT		0x1
#define PF_WRITE	0x2
#define PF_USER		0x4

/*
 * A user-mode access by the current CPU.  Returns 0 with the frame in
 * @pfn, or the x86 page-fault error code (a positive value) when the walk
 * faults.
 */
int sim_mmu_translate(unsigned long addr, bool write, u32 *pfn);

/* Frame safety, called by the page allocator before a frame is reused. */
void sim_mmu_frame_freed(u32 pfn, const char *func);

/* Coherence: report every CPU whose TLB grants more than @mm's ptes. */
int sim_mmu_check_coherent(struct mm_struct *mm, unsigned long start,
			   unsigned long end, u64 since, const char *func);

/* A CPU about to run user code must not hold entries to freed frames. */
void sim_mmu_check_no_stale(const char *func);

#endif /* _ASM_X86_SIM_MMU_H */
