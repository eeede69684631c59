/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/mm_types.h>

/*
 * What runs on a simulated CPU: a task of some mm (@mm set), or a kernel
 * thread borrowing the previous mm in lazy TLB mode (@mm NULL).
 */
struct task_struct {
	struct mm_struct *mm;
	struct mm_struct *active_mm;
};

struct task_struct *get_current(void);
#define current get_current()

struct mm_struct *mm_alloc(void);
void mmput(struct mm_struct *mm);
void mmdrop(struct mm_struct *mm);
struct mm_struct *dup_mm(struct mm_struct *oldmm);
int exec_mmap(struct mm_struct *mm);
void exit_mm(void);
void mm_release_cpus(struct mm_struct *mm);

/* Schedule the task of @mm (NULL: a kernel thread) on this CPU. */
void context_switch_to(struct mm_struct *mm);
void idle_task_exit(void);
int sim_user_access(unsigned long address, bool write, u64 *val);

#endif /* _LINUX_SCHED_H */
