/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stack switching for the simulated CPUs of the concurrent regime
 * (arch/x86/sim/smp.c), the way __switch_to_asm switches kernel stacks.
 */
#ifndef _ASM_X86_SIM_SWITCH_H
#define _ASM_X86_SIM_SWITCH_H

/*
 * sim_switch_stack - save the callee-saved registers on this stack, store
 * its pointer in *@save_sp and resume the context saved at @next_sp.
 */
void sim_switch_stack(void **save_sp, void *next_sp);

/*
 * Where a fresh stack begins, from sim_switch_stack(): it calls the
 * function in %r13 with the argument in %r12, and never returns.
 */
void sim_cpu_start(void);

#endif /* _ASM_X86_SIM_SWITCH_H */
