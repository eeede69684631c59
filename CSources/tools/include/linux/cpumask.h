/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The 2.6-era cpumask_t API over one word: at most 64 simulated CPUs.
 * cpu_set() and cpu_clear() are atomic bit operations, as set_bit() is:
 * a CPU switching mm and another reading the mask for a shootdown may be
 * host threads running at once.
 */
#ifndef _TOOLS_LINUX_CPUMASK_H
#define _TOOLS_LINUX_CPUMASK_H

typedef struct { u64 bits; } cpumask_t;

#define cpus_clear(mask)	((mask).bits = 0)
#define cpu_set(cpu, mask)						\
	((void)__atomic_fetch_or(&(mask).bits, 1ULL << (cpu),		\
				 __ATOMIC_SEQ_CST))
#define cpu_clear(cpu, mask)						\
	((void)__atomic_fetch_and(&(mask).bits, ~(1ULL << (cpu)),	\
				  __ATOMIC_SEQ_CST))
#define cpu_isset(cpu, mask)	(!!(READ_ONCE((mask).bits) & (1ULL << (cpu))))
/* A snapshot of a mask other CPUs may change */
#define cpumask_read(mask)	((cpumask_t){ READ_ONCE((mask).bits) })
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
