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

/*
 * Run @func(@info) on @cpu, as its interrupt handler would, and return
 * once it has run (@wait is always honoured).  The simulated CPUs of a
 * machine share the calling host thread: it becomes @cpu for the call.
 */
static inline int smp_call_function_single(int cpu, void (*func)(void *info),
					   void *info, int wait)
{
	int self = sim_cpu;

	sim_cpu = cpu;
	func(info);
	sim_cpu = self;
	return 0;
}

#endif /* _TOOLS_LINUX_SMP_H */
