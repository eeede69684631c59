/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The compiler attributes the simulated kernel uses, under the kernel's
 * names.  This is the one file that may spell __attribute__ out.
 */
#ifndef _TOOLS_LINUX_COMPILER_ATTRIBUTES_H
#define _TOOLS_LINUX_COMPILER_ATTRIBUTES_H

#define __printf(a, b)	__attribute__((format(printf, a, b)))

#endif /* _TOOLS_LINUX_COMPILER_ATTRIBUTES_H */
