/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reader-writer semaphores for the simulated CPUs: sleeping locks, so
 * taking one in atomic context is a bug.  In the sequential regime a
 * semaphore is never contended; finding it held by another CPU means a
 * sleep that would never end, and is reported.
 */
#ifndef _TOOLS_LINUX_RWSEM_H
#define _TOOLS_LINUX_RWSEM_H

struct rw_semaphore {
	union {
		struct {
			s32 writer;	/* CPU holding it for writing, or -1 */
			u32 readers;	/* CPUs holding it for reading */
		};
		u64 word;	/* both at once, for the threaded regime */
	};
	u32 class;
};

void init_rwsem_class(struct rw_semaphore *sem, u32 class);
void down_read(struct rw_semaphore *sem);
int down_read_trylock(struct rw_semaphore *sem);
void up_read(struct rw_semaphore *sem);
void down_write_nested(struct rw_semaphore *sem, int subclass);
void up_write(struct rw_semaphore *sem);

#define down_write(sem)	down_write_nested(sem, 0)

#endif /* _TOOLS_LINUX_RWSEM_H */
