/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The machine's system-call table (arch/x86/sim/syscall.c), as the
 * concurrent regime sees it.
 */
#ifndef _ASM_X86_SIM_SYSCALL_H
#define _ASM_X86_SIM_SYSCALL_H

bool sim_syscall_batchable(u32 kind);

#endif /* _ASM_X86_SIM_SYSCALL_H */
