/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The object behind a MAP_SHARED|MAP_ANONYMOUS mapping: its pages outlive
 * any one mapping of them, and are freed with the last vma that maps it.
 */
#ifndef _LINUX_SHMEM_FS_H
#define _LINUX_SHMEM_FS_H

struct page;

struct address_space {
	int refcount;			/* vmas using the object */
	unsigned long nr_pages;
	struct page **pages;		/* by offset; NULL until faulted */
};

struct address_space *shmem_setup(unsigned long nr_pages);
void shmem_get(struct address_space *mapping);
void shmem_put(struct address_space *mapping);
struct page *shmem_getpage(struct address_space *mapping, unsigned long idx);

#endif /* _LINUX_SHMEM_FS_H */
