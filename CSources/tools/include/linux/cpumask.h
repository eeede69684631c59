/* SPDX-License-Identifier: GPL-2.0 */
/* The 2.6-era cpumask_t API over one word: at most 64 simulated CPUs. */
#ifndef _TOOLS_LINUX_CPUMASK_H
#define _TOOLS_LINUX_CPUMASK_H

typedef struct { u64 bits; } cpumask_t;

#define cpus_clear(mask)	((mask).bits = 0)
#define cpu_set(cpu, mask)	((mask).bits |= 1ULL << (cpu))
#define cpu_clear(cpu, mask)	((mask).bits &= ~(1ULL << (cpu)))
#define cpu_isset(cpu, mask)	(!!((mask).bits & (1ULL << (cpu))))
#define cpus_empty(mask)	((mask).bits == 0)

/* The first CPU after @cpu in @mask, or 64 */
static inline int cpumask_next(int cpu, cpumask_t mask)
{
	u64 rest = cpu >= 63 ? 0 : mask.bits >> (cpu + 1) << (cpu + 1);

	return rest ? __builtin_ctzll(rest) : 64;
}

#define for_each_cpu_mask(cpu, mask)					\
	for ((cpu) = -1; (cpu) = cpumask_next((cpu), (mask)), (cpu) < 64; )

#endif /* _TOOLS_LINUX_CPUMASK_H */
