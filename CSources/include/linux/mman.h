/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMAN_H
#define _LINUX_MMAN_H

#define PROT_NONE	0x0
#define PROT_READ	0x1
#define PROT_WRITE	0x2
#define PROT_EXEC	0x4

#define MAP_SHARED	0x01
#define MAP_PRIVATE	0x02
#define MAP_TYPE	0x0f
#define MAP_FIXED	0x10
#define MAP_ANONYMOUS	0x20
#define MAP_DENYWRITE	0x0800
#define MAP_NORESERVE	0x4000
#define MAP_STACK	0x20000

/* Flags without effect on an anonymous mapping here, accepted as Linux does */
#define MAP_IGNORED	(MAP_DENYWRITE | MAP_NORESERVE | MAP_STACK)

#define MADV_DONTNEED	4
#define MADV_HUGEPAGE	14
#define MADV_NOHUGEPAGE	15

#endif /* _LINUX_MMAN_H */
