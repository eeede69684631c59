// SPDX-License-Identifier: GPL-2.0
/*
 * Entry from the driver: each struct mmsim_op passed to mmsim_call() (one
 * at a time, or by a concurrent batch or a stress thread) is a system call
 * (or a user access) made by a task of some mm on some CPU, dispatched
 * through the table at the end of this file.  The entry validates what
 * the driver passed, schedules the task on the CPU, runs the kernel path,
 * and on the way out checks what must hold whenever the kernel returns to
 * user space: preemption and locks balanced, and no CPU that may run the
 * mm's user code holding a translation the page tables no longer grant.
 */
#include <linux/mm.h>
#include <linux/swap.h>
#include <asm/sim_syscall.h>

struct sim_call {
	struct sim_context saved;
	struct mm_struct *mm;
	u64 since;			/* scheduling step of the entry */
};

static struct sim_machine *to_machine(struct mmsim *m)
{
	return (struct sim_machine *)m;
}

/*
 * Enter the kernel on @cpu of @m as a task of @mm_id (or of no mm when
 * @mm_id is MMSIM_NO_MM and @allow_none).  Return: 0, -EINVAL for a bad
 * CPU, -ESRCH for an unknown mm.
 */
static int sys_enter(struct mmsim *m, int cpu, int mm_id, bool allow_none,
		     struct sim_call *call)
{
	struct sim_machine *machine = to_machine(m);

	if (cpu < 0 || cpu >= (int)machine->config.nr_cpus)
		return -EINVAL;
	call->saved = sim_enter(machine, cpu);
	call->mm = NULL;
	/*
	 * A batch's scheduler ticks the clock; between batches, each entry
	 * does.  Host threads (mmsim_run_threads()) leave it alone.
	 */
	if (!sim_concurrent() && !sim_threaded())
		machine->clock++;
	call->since = machine->clock;
	per_cpu(owed, cpu).mm = NULL;
	per_cpu(did_cow, cpu) = false;
	per_cpu(did_gather, cpu) = false;
	if (mm_id == MMSIM_NO_MM && allow_none)
		return 0;
	call->mm = sim_mm_by_id(mm_id);
	if (!call->mm) {
		sim_leave(call->saved);
		return -ESRCH;
	}
	context_switch_to(call->mm);
	return 0;
}

/*
 * Coherence at return in the concurrent regime: armed at entry for the
 * range the call may reduce, and checked when the call releases mmap_sem,
 * after its flushes and before another call can change the page tables
 * (checked later, it would blame this call for what one under way on
 * another CPU has not flushed yet).  Every entry the range still has is
 * judged, whenever it was filled, except one that a call under way on
 * another CPU took away after this one began and still owes a flush for
 * (see sim_mmu_check_coherent()).  The check itself is
 * debug_check_mmap_sem_release() (mm/debug_vm.c).
 *
 * A call that holds mmap_sem only for reading owes nothing when it did
 * nothing: @done, if not NULL, says whether it did (a fault replaced a
 * pte, a MADV_DONTNEED ran its gather).  Another MADV_DONTNEED may be
 * clearing ptes in the range meanwhile; one that ran its gather flushed
 * after them (tlb_flush_if_nested()).
 */
static void arm_check(struct sim_call *call, struct mm_struct *mm,
		      unsigned long start, unsigned long len, const char *func,
		      bool *done)
{
	int cpu = smp_processor_id();

	if (!sim_concurrent() || start >= TASK_SIZE)
		return;
	per_cpu(release_check, cpu).mm = mm;
	per_cpu(release_check, cpu).start = start;
	per_cpu(release_check, cpu).end = start + min(len, TASK_SIZE - start);
	per_cpu(release_check, cpu).since = call->since;
	per_cpu(release_check, cpu).func = func;
	per_cpu(release_check, cpu).only_if = done;
}

/*
 * Leave the kernel.  @check_mm, if not NULL, is an mm whose mappings the
 * call may have reduced: coherence at return is checked for the whole of
 * it in the sequential regime (the concurrent one checked at the release
 * of mmap_sem, see arm_check()).
 *
 * When the CPUs are host threads there is no scheduler to stop the world
 * at the return: another call of the same mm may be between clearing a
 * pte and flushing it, and its window is no bug.  What is sound is a
 * quiescent point of the mm: with its mmap_sem held for writing no call
 * that changes its ptes is under way (faults and MADV_DONTNEED read it,
 * every other call writes it), so every call that reduced a mapping has
 * flushed, and every TLB must grant no more than the ptes.  So the check
 * takes the semaphore for writing and checks the whole mm.
 */
static long sys_exit(struct sim_call *call, struct mm_struct *check_mm,
		     const char *func, long ret)
{
	int cpu = smp_processor_id();

	if (per_cpu(preempt_count, cpu) || per_cpu(locks_held, cpu)) {
		sim_report(MMSIM_V_LOCKING, cpu, 0, -1, func,
			   "returns to user space with preempt count %d, %d locks held",
			   per_cpu(preempt_count, cpu),
			   per_cpu(locks_held, cpu));
		per_cpu(preempt_count, cpu) = 0;
		per_cpu(locks_held, cpu) = 0;
	}
	per_cpu(release_check, cpu).mm = NULL;
	per_cpu(owed, cpu).mm = NULL;
	if (check_mm && sim_threaded()) {
		down_write(&check_mm->mmap_sem);
		sim_mmu_check_coherent(check_mm, 0, TASK_SIZE, U64_MAX, func);
		up_write(&check_mm->mmap_sem);
	} else if (check_mm && !sim_concurrent()) {
		sim_mmu_check_coherent(check_mm, 0, TASK_SIZE, U64_MAX, func);
	}
	sim_leave(call->saved);
	return ret;
}

/*
 * The system calls.  Each takes its arguments from @op and leaves what it
 * returns besides its error in op->out; the name it reports violations
 * under is the one the uapi once gave it (mmsim_<call>).
 */
static int sys_mm_new(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_context saved = sim_enter(to_machine(m), 0);
	struct mm_struct *mm = mm_alloc();

	sim_leave(saved);
	if (!mm)
		return -ENOMEM;
	op->out = mm->id;
	return 0;
}

static int sys_mm_get(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_context saved = sim_enter(to_machine(m), 0);
	struct mm_struct *mm = sim_mm_by_id(op->mm);

	if (mm)
		mm->mm_users++;
	sim_leave(saved);
	return mm ? 0 : -ESRCH;
}

static int sys_fork(struct mmsim *m, struct mmsim_op *op)
{
	struct mm_struct *child;
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	arm_check(&call, call.mm, 0, TASK_SIZE, "mmsim_fork", NULL);
	child = dup_mm(call.mm);
	if (child)
		op->out = child->id;
	return sys_exit(&call, call.mm, "mmsim_fork", child ? 0 : -ENOMEM);
}

static int sys_exit_mm(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	exit_mm();
	return sys_exit(&call, NULL, "mmsim_exit", 0);
}

static int sys_exec(struct mmsim *m, struct mmsim_op *op)
{
	struct mm_struct *mm;
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	mm = mm_alloc();
	if (!mm)
		return sys_exit(&call, NULL, "mmsim_exec", -ENOMEM);
	if (call.mm->mm_users == 1)
		mm_release_cpus(call.mm);
	exec_mmap(mm);
	op->out = mm->id;
	return sys_exit(&call, mm, "mmsim_exec", 0);
}

static int sys_mmap(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	long ret;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	if (op->flags & MAP_FIXED)
		arm_check(&call, call.mm, op->addr, op->len, "mmsim_mmap",
			  NULL);
	down_write(&call.mm->mmap_sem);
	ret = do_mmap_pgoff(call.mm, op->addr, op->len,
			    (unsigned int)op->prot, (unsigned int)op->flags);
	up_write(&call.mm->mmap_sem);
	if (ret >= 0)
		op->out = ret;
	return sys_exit(&call, call.mm, "mmsim_mmap", ret < 0 ? ret : 0);
}

static int sys_munmap(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	arm_check(&call, call.mm, op->addr, op->len, "mmsim_munmap", NULL);
	down_write(&call.mm->mmap_sem);
	err = do_munmap(call.mm, op->addr, op->len);
	up_write(&call.mm->mmap_sem);
	return sys_exit(&call, call.mm, "mmsim_munmap", err);
}

static int sys_mprotect_op(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	arm_check(&call, call.mm, op->addr, op->len, "mmsim_mprotect", NULL);
	err = sys_mprotect(call.mm, op->addr, op->len, (unsigned int)op->prot);
	return sys_exit(&call, call.mm, "mmsim_mprotect", err);
}

static int sys_madvise_op(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	arm_check(&call, call.mm, op->addr, op->len, "mmsim_madvise",
		  &per_cpu(did_gather, op->cpu));
	err = sys_madvise(call.mm, op->addr, op->len, op->flags);
	return sys_exit(&call, call.mm, "mmsim_madvise", err);
}

static int sys_switch_mm(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	int err;

	err = sys_enter(m, op->cpu, op->mm, true, &call);
	if (err)
		return err;
	if (!call.mm)
		context_switch_to(NULL);
	return sys_exit(&call, NULL, "mmsim_switch_mm", 0);
}

static int user_access(struct mmsim *m, struct mmsim_op *op, bool write)
{
	const char *func = write ? "mmsim_store" : "mmsim_load";
	struct sim_call call;
	u64 faults, val = op->value;
	bool cow;
	int err;

	if (op->addr & 7)
		return -EINVAL;
	err = sys_enter(m, op->cpu, op->mm, false, &call);
	if (err)
		return err;
	arm_check(&call, call.mm, op->addr & PAGE_MASK, PAGE_SIZE, func,
		  &per_cpu(did_cow, op->cpu));
	faults = sim_threaded() ? 0 : sim_stat(faults);
	err = sim_user_access(op->addr, write, &val);
	if (!err)
		op->out = val;
	/*
	 * A fault may have replaced a mapping (copy-on-write); host threads
	 * count faults together, so there this CPU's own flag tells.
	 */
	if (sim_threaded())
		cow = per_cpu(did_cow, op->cpu);
	else
		cow = sim_stat(faults) != faults;
	return sys_exit(&call, cow ? call.mm : NULL, func, err);
}

static int sys_load(struct mmsim *m, struct mmsim_op *op)
{
	return user_access(m, op, false);
}

static int sys_store(struct mmsim *m, struct mmsim_op *op)
{
	return user_access(m, op, true);
}

/*
 * kswapd on @op->cpu: a kernel thread, which borrows the mm the CPU ran
 * last (lazy TLB), reclaims up to @op->len pages from every mm.
 */
static int sys_reclaim(struct mmsim *m, struct mmsim_op *op)
{
	struct sim_call call;
	struct mm_struct *mm;
	int err, id;

	err = sys_enter(m, op->cpu, MMSIM_NO_MM, true, &call);
	if (err)
		return err;
	context_switch_to(NULL);
	op->out = shrink_anon_pages(op->len);
	/* it reduced the mappings of any mm: every CPU against every mm */
	if (!sim_concurrent())
		for_each_mm(mm, id)
			sim_mmu_check_coherent(mm, 0, TASK_SIZE, U64_MAX,
					       "mmsim_reclaim");
	return sys_exit(&call, NULL, "mmsim_reclaim", 0);
}

/*
 * One entry per kind: adding a call is a kind in mmsim.h and a line here
 * (plus the kernel code it runs).
 */
static const struct sim_syscall {
	int (*fn)(struct mmsim *m, struct mmsim_op *op);
	bool batch;			/* allowed in mmsim_run_concurrent() */
} syscalls[MMSIM_OP_NR] = {
	[MMSIM_OP_MMAP]		= { sys_mmap, true },
	[MMSIM_OP_MUNMAP]	= { sys_munmap, true },
	[MMSIM_OP_MPROTECT]	= { sys_mprotect_op, true },
	[MMSIM_OP_MADVISE]	= { sys_madvise_op, true },
	[MMSIM_OP_FORK]		= { sys_fork, true },
	[MMSIM_OP_LOAD]		= { sys_load, true },
	[MMSIM_OP_STORE]	= { sys_store, true },
	[MMSIM_OP_SWITCH_MM]	= { sys_switch_mm, true },
	[MMSIM_OP_RECLAIM]	= { sys_reclaim, true },
	[MMSIM_OP_MM_NEW]	= { sys_mm_new, false },
	[MMSIM_OP_MM_GET]	= { sys_mm_get, false },
	[MMSIM_OP_EXIT]		= { sys_exit_mm, false },
	[MMSIM_OP_EXEC]		= { sys_exec, false },
};

/**
 * sim_syscall_batchable - whether a kind may run in a concurrent batch
 * @kind: an enum mmsim_op_kind
 */
bool sim_syscall_batchable(u32 kind)
{
	return kind < MMSIM_OP_NR && syscalls[kind].fn && syscalls[kind].batch;
}

int mmsim_call(struct mmsim *m, struct mmsim_op *op)
{
	/* Linux's errno values, which mmsim.h promises the driver */
	BUILD_BUG_ON(ENOENT != MMSIM_ENOENT || ESRCH != MMSIM_ESRCH ||
		     EBADF != MMSIM_EBADF || ENOMEM != MMSIM_ENOMEM ||
		     EFAULT != MMSIM_EFAULT || EBUSY != MMSIM_EBUSY ||
		     EINVAL != MMSIM_EINVAL || EDEADLK != MMSIM_EDEADLK);

	op->out = 0;
	if (op->kind >= MMSIM_OP_NR || !syscalls[op->kind].fn)
		op->ret = -EINVAL;
	else
		op->ret = syscalls[op->kind].fn(m, op);
	return op->ret;
}

/* Read-only views, for comparison against a model */

int mmsim_vma(struct mmsim *m, int mm_id, uint32_t index,
	      struct mmsim_vma_info *out)
{
	struct sim_context saved = sim_enter(to_machine(m), 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	struct vm_area_struct *vma = NULL;
	int err = -ESRCH;

	if (mm) {
		err = -ENOENT;
		for (vma = mm->mmap; vma && index; vma = vma->vm_next)
			index--;
	}
	if (vma) {
		out->start = vma->vm_start;
		out->end = vma->vm_end;
		out->prot = (vma->vm_flags & VM_READ ? PROT_READ : 0) |
			    (vma->vm_flags & VM_WRITE ? PROT_WRITE : 0) |
			    (vma->vm_flags & VM_EXEC ? PROT_EXEC : 0);
		out->shared = !!(vma->vm_flags & VM_SHARED);
		err = 0;
	}
	sim_leave(saved);
	return err;
}

/*
 * The pte of @mm at @addr in *@pte: read from its pte table, or made up
 * from the huge pmd that maps it (*@huge set).  Return: false when no
 * table maps @addr.
 */
static bool lookup_pte(struct mm_struct *mm, unsigned long addr, pte_t *pte,
		       int *huge)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	pud_t *pud;
	pmd_t *pmd;

	*huge = 0;
	if (pgd_none(*pgd))
		return false;
	pud = pud_offset(pgd, addr);
	if (pud_none(*pud))
		return false;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd))
		return false;
	if (pmd_trans_huge(*pmd)) {
		*huge = 1;
		*pte = pmd_subpage_pte(*pmd, pte_index(addr));
		return true;
	}
	*pte = *pte_offset_map(pmd, addr);
	return true;
}

int mmsim_lookup(struct mmsim *m, int mm_id, uint64_t addr,
		 struct mmsim_pte_info *out)
{
	struct sim_context saved = sim_enter(to_machine(m), 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	bool found = false;
	int err = -ESRCH, huge = 0;
	pte_t pte = __pte(0);

	if (mm && addr < TASK_SIZE) {
		err = -ENOENT;
		found = lookup_pte(mm, addr, &pte, &huge);
	}
	if (found && pte_present(pte) && !pte_gathered(pte)) {
		out->pfn = pte_pfn(pte);
		out->word0 = *(u64 *)page_address(pte_page(pte));
		out->present = !!(pte_val(pte) & _PAGE_PRESENT);
		out->writable = pte_write(pte);
		out->swapped = 0;
		out->huge = huge;
		err = 0;
	} else if (found && is_swap_pte(pte)) {
		unsigned long pfn;

		out->word0 = swap_entry_word0(pte_to_swp_entry(pte), &pfn);
		out->pfn = pfn;
		out->present = 0;
		out->writable = 0;
		out->swapped = 1;
		out->huge = 0;
		err = 0;
	}
	sim_leave(saved);
	return err;
}

int mmsim_mm_info(struct mmsim *m, int mm_id, struct mmsim_mm_info *out)
{
	struct sim_context saved = sim_enter(to_machine(m), 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);

	if (mm) {
		out->anon_rss = mm->anon_rss;
		out->file_rss = mm->file_rss;
		out->nr_ptes = mm->nr_ptes;
		out->total_vm = mm->total_vm;
		out->map_count = mm->map_count;
		out->users = mm->mm_users;
		out->swap_ents = mm->swap_ents;
	}
	sim_leave(saved);
	return mm ? 0 : -ESRCH;
}
