/* SPDX-License-Identifier: GPL-2.0 */
/* The 2.6-era cpumask_t API over one word: at most 64 simulated CPUs. */
#ifndef _TOOLS_LINUX_CPUMASK_H
#define _TOOLS_LINUX_CPUMASK_H

typedef struct { u64 bits; } cpumask_t;

#define CPU_MASK_NONE		((cpumask_t){ 0 })

#define cpu_set(cpu, mask)	((mask).bits |= 1ULL << (cpu))
#define cpu_clear(cpu, mask)	((mask).bits &= ~(1ULL << (cpu)))
#define cpu_isset(cpu, mask)	(!!((mask).bits & (1ULL << (cpu))))
#define cpus_empty(mask)	((mask).bits == 0)
#define cpus_weight(mask)	__builtin_popcountll((mask).bits)

#define for_each_cpu_mask(cpu, mask)				\
	for ((cpu) = 0; (cpu) < 64; (cpu)++)			\
		if (cpu_isset(cpu, mask))

#endif /* _TOOLS_LINUX_CPUMASK_H */
