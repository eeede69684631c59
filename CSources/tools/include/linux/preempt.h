/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Preemption counts of the simulated CPUs.  With CONFIG_PREEMPT (the
 * machine's "preempt=on") cond_resched() and preempt_enable() are
 * preemption points; either way the simulator measures the longest stretch
 * of work done with preemption disabled.
 */
#ifndef _TOOLS_LINUX_PREEMPT_H
#define _TOOLS_LINUX_PREEMPT_H

void preempt_disable(void);
void preempt_enable(void);
int preempt_count(void);
void cond_resched(void);

/* Account @nr units of work (ptes visited) to the current stretch. */
void preempt_account_work(unsigned long nr);

#endif /* _TOOLS_LINUX_PREEMPT_H */
