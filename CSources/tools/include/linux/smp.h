/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which simulated machine and CPU the calling thread is running.  Set at
 * every entry into the simulated kernel, so that several machines can live
 * in one process and kernel code can read like kernel code.
 */
#ifndef _TOOLS_LINUX_SMP_H
#define _TOOLS_LINUX_SMP_H

struct sim_machine;

extern __thread struct sim_machine *sim;
extern __thread int sim_cpu;

#define smp_processor_id()	(sim_cpu)

int num_online_cpus(void);

#endif /* _TOOLS_LINUX_SMP_H */
