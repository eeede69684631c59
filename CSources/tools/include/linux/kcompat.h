/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcompat.h - force-included into every kernel file built for user space.
 *
 * The small part of <linux/types.h>, <linux/compiler.h>, <linux/kernel.h>
 * and <linux/bug.h> that the simulated kernel uses, in the spirit of the
 * kernel's own tools/include.
 */
#ifndef _TOOLS_LINUX_KCOMPAT_H
#define _TOOLS_LINUX_KCOMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <limits.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#include <linux/compiler_attributes.h>
#include <uapi/mmsim.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/*
 * Single-copy atomic accesses, as relaxed atomics: the same code then runs
 * race-free on real threads, where ThreadSanitizer checks it.
 */
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, val)	__atomic_store_n(&(x), (val), __ATOMIC_RELAXED)

/*
 * Publication: a table is filled before the entry that links it is stored
 * with release; a reader that loads the entry with acquire sees it filled.
 */
#define smp_store_release(p, val) __atomic_store_n((p), (val), __ATOMIC_RELEASE)
/* acquire: pairs with smp_store_release() */
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)

/* A full barrier: a store before it is visible before a load after it */
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

#define U64_MAX		((u64)~0ULL)

#define ARRAY_SIZE(arr)	(sizeof(arr) / sizeof((arr)[0]))
#define BITS_PER_LONG	64

#define container_of(ptr, type, member) ({			\
	void *__mptr = (void *)(ptr);				\
	((type *)(__mptr - offsetof(type, member))); })

#define min(x, y) ({				\
	typeof(x) _min1 = (x);			\
	typeof(y) _min2 = (y);			\
	(void)(&_min1 == &_min2);		\
	_min1 < _min2 ? _min1 : _min2; })

#define max(x, y) ({				\
	typeof(x) _max1 = (x);			\
	typeof(y) _max2 = (y);			\
	(void)(&_max1 == &_max2);		\
	_max1 > _max2 ? _max1 : _max2; })

#define min_t(type, x, y) min((type)(x), (type)(y))

#define BUILD_BUG_ON(cond)	_Static_assert(!(cond), #cond)

/*
 * A kernel bug found while the simulation runs is recorded, never fatal:
 * the driver shrinks and replays the case that produced it.
 */
void __printf(6, 7) sim_report(int kind, int cpu, u64 addr, long pfn,
			       const char *func, const char *fmt, ...);

#define BUG_ON(cond) do {						\
	if (unlikely(cond))						\
		sim_report(MMSIM_V_BUG, -1, 0, -1, __func__,		\
			   "BUG_ON(%s) at %s:%d", #cond, __FILE__,	\
			   __LINE__);					\
} while (0)

#define WARN_ON(cond) ({						\
	int __ret_warn_on = !!(cond);					\
	if (unlikely(__ret_warn_on))					\
		sim_report(MMSIM_V_BUG, -1, 0, -1, __func__,		\
			   "WARN_ON(%s) at %s:%d", #cond, __FILE__,	\
			   __LINE__);					\
	unlikely(__ret_warn_on);					\
})

#endif /* _TOOLS_LINUX_KCOMPAT_H */
