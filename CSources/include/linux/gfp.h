/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_GFP_H
#define _LINUX_GFP_H

#include <linux/slab.h>

#define __GFP_ZERO	0x100u
#define GFP_HIGHUSER	0x2u
/* never fails, not even when fault injection is armed */
#define __GFP_NOFAIL	0x800u

struct page *alloc_page(unsigned int gfp);
void __free_page(struct page *page);

#endif /* _LINUX_GFP_H */
