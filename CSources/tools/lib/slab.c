// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel object allocation on top of malloc: counted per machine so that
 * leaked vmas and mms show up, and failed on demand like page allocations.
 */
#include <stdlib.h>
#include <linux/mm.h>

void *kmalloc(size_t size, unsigned int gfp)
{
	void *obj;

	if (!(gfp & __GFP_NOFAIL) && should_fail_alloc())
		return NULL;
	obj = malloc(size);
	if (obj)
		sim_stat_inc(slab_objects_now);
	return obj;
}

void *kzalloc(size_t size, unsigned int gfp)
{
	void *obj = kmalloc(size, gfp);

	if (obj)
		memset(obj, 0, size);
	return obj;
}

void kfree(const void *obj)
{
	if (!obj)
		return;
	sim_stat_add(slab_objects_now, -1);
	free((void *)obj);
}
