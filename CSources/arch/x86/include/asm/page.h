/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Physical memory of the simulated machine: frame numbers, struct pages
 * and the kernel's direct map (__va/__pa) onto the frames' storage.
 */
#ifndef _ASM_X86_PAGE_H
#define _ASM_X86_PAGE_H

#include <asm/sim/machine.h>

static inline void *__va(u64 phys)
{
	return (char *)sim->mem + phys;
}

static inline u64 __pa(const void *virt)
{
	return (u64)((const char *)virt - (const char *)sim->mem);
}

static inline struct page *pfn_to_page(unsigned long pfn)
{
	return sim->mem_map + pfn;
}

static inline unsigned long page_to_pfn(const struct page *page)
{
	return page - sim->mem_map;
}

static inline bool pfn_valid(unsigned long pfn)
{
	return pfn < sim->config.nr_frames;
}

static inline void *page_address(const struct page *page)
{
	return __va((u64)page_to_pfn(page) << PAGE_SHIFT);
}

static inline struct page *virt_to_page(const void *virt)
{
	return pfn_to_page(__pa(virt) >> PAGE_SHIFT);
}

#endif /* _ASM_X86_PAGE_H */
