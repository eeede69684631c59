/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel object allocation.  Backed by malloc, counted per machine so that
 * leaks show, and subject to the same fail-nth fault injection as the page
 * allocator.
 */
#ifndef _TOOLS_LINUX_SLAB_H
#define _TOOLS_LINUX_SLAB_H

#define GFP_KERNEL	0x1u

void *kmalloc(size_t size, unsigned int gfp);
void *kzalloc(size_t size, unsigned int gfp);
void kfree(const void *obj);

#endif /* _TOOLS_LINUX_SLAB_H */
