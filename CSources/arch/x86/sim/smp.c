// SPDX-License-Identifier: GPL-2.0
/*
 * The concurrent regime: the simulated CPUs run at once.
 *
 * Every CPU that has ops in a batch runs them on a stack of its own, and
 * the CPUs take turns at scheduling points: every page-table write, lock
 * operation, preemption point, step of the hardware walker, user access
 * and IPI calls sim_interleave().  One host thread runs them all, so a
 * turn is a stack switch and the run is a function of the machine's state,
 * the ops and the scheduler's seed: it replays byte for byte.
 *
 * A CPU that must wait (a spinlock or a semaphore held elsewhere, an IPI
 * target in the middle of a page walk) is not scheduled until what it
 * waits for holds; when no CPU can run, the batch has deadlocked.
 *
 * Schedulers: RANDOM switches to a random CPU at a point with the given
 * odds; WINDOW runs CPUs by priority and drops a CPU below the others
 * where it enters the window of a TLB shootdown (it changed a pte and has
 * not flushed yet: where the races of this kernel live);
 * PCT (Burckhardt et al., ASPLOS 2010) runs the runnable CPU of
 * highest priority and demotes the running one at @pct_depth - 1 random
 * points, which finds any bug of that depth with a known probability;
 * REPLAY follows a recorded schedule.  Every run records the CPU chosen at
 * each point, as runs of equal choices, for mmsim_last_schedule().
 */
#include <stdlib.h>
#include <linux/mm.h>
#include <asm/sim_switch.h>
#include <asm/sim_syscall.h>
#include <asm/tlbflush.h>

#ifndef __x86_64__
#error "the simulated CPUs switch stacks the x86-64 way"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIM_TSAN 1
#endif
#endif

#ifdef SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SIM_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define SIM_STACK_SIZE	(256 * 1024)
#define PCT_MAX_DEPTH	8
#define HOST		(-1)

/* See <asm/sim_switch.h> */
asm(
	".pushsection .text\n"
	".globl sim_switch_stack\n"
	".type sim_switch_stack, @function\n"
	"sim_switch_stack:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size sim_switch_stack, .-sim_switch_stack\n"
	".globl sim_cpu_start\n"
	".type sim_cpu_start, @function\n"
	"sim_cpu_start:\n"
	"	movq %r12, %rdi\n"
	"	callq *%r13\n"
	"	ud2\n"
	".size sim_cpu_start, .-sim_cpu_start\n"
	".popsection\n"
);

struct sim_fiber {
	void *sp;
	bool present;			/* has ops in this batch */
	bool done;
	bool (*wait_cond)(const void *arg);
	const void *wait_arg;
	u32 prio;			/* PCT, WINDOW */
	bool in_window;			/* WINDOW: demoted for this one */
#ifdef SIM_TSAN
	void *tsan;
#endif
};

struct sim_smp {
	struct sim_machine *machine;
	struct mmsim_op *ops;
	u32 nr_ops;
	struct mmsim_sched sched;
	struct sim_fiber fiber[MMSIM_MAX_CPUS];
	void *host_sp;
	int running;
	u64 clock;			/* points of this batch */
	u64 base;			/* the machine's clock at its start */
	u64 rng;
	u64 change_at[PCT_MAX_DEPTH];
	u32 lowest;			/* WINDOW: the last priority given */
	u32 replay_run;			/* REPLAY: the run being followed */
	u32 replay_used;		/* ... and the steps taken from it */
	bool deadlock;
	bool record_failed;
#ifdef SIM_ASAN
	const void *host_bottom;	/* learnt on the first switch */
	size_t host_size;
#endif
#ifdef SIM_TSAN
	void *host_tsan;
#endif
};

static u64 smp_random(struct sim_smp *s)
{
	u64 z = (s->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

bool sim_concurrent(void)
{
	return sim && sim->smp;
}

u64 sim_clock(void)
{
	return sim ? sim->clock : 0;
}

static bool runnable(struct sim_smp *s, int cpu)
{
	struct sim_fiber *f = &s->fiber[cpu];

	if (!f->present || f->done)
		return false;
	return !f->wait_cond || f->wait_cond(f->wait_arg);
}

static int first_runnable(struct sim_smp *s)
{
	int cpu;

	if (s->running != HOST && runnable(s, s->running))
		return s->running;
	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		if (runnable(s, cpu))
			return cpu;
	return HOST;
}

static int pick_random(struct sim_smp *s)
{
	int cand[MMSIM_MAX_CPUS], n = 0, cpu;

	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		if (runnable(s, cpu))
			cand[n++] = cpu;
	if (!n)
		return HOST;
	if (s->running != HOST && runnable(s, s->running) &&
	    smp_random(s) % 1000 >= s->sched.switch_permille)
		return s->running;
	return cand[smp_random(s) % n];
}

static int highest_runnable(struct sim_smp *s)
{
	int cpu, best = HOST;

	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		if (runnable(s, cpu) &&
		    (best == HOST || s->fiber[cpu].prio > s->fiber[best].prio))
			best = cpu;
	return best;
}

/* The running CPU has taken translations away and not flushed them yet */
static bool in_shootdown_window(int cpu)
{
	const struct sim_owed *owed = &per_cpu(owed, cpu);

	return owed->mm && (owed->nr || owed->all);
}

/*
 * WINDOW: strict priorities, as PCT, but the change points are where
 * a CPU enters the window of a TLB shootdown: when the running CPU has
 * changed a pte and not flushed it yet, it drops below every other CPU
 * (with odds @window_permille, once per window), so that each of the
 * others runs as far as it can before the flush: into the page the pte
 * named, the pte itself, the mapcount of the page.  Elsewhere it drops
 * with odds @switch_permille.
 */
static int pick_window(struct sim_smp *s)
{
	int self = s->running;

	if (self != HOST && s->fiber[self].present && !s->fiber[self].done) {
		struct sim_fiber *f = &s->fiber[self];
		u32 odds = s->sched.switch_permille;

		if (!in_shootdown_window(self)) {
			f->in_window = false;
		} else if (!f->in_window) {
			f->in_window = true;
			odds = s->sched.window_permille;
		}
		if (smp_random(s) % 1000 < odds)
			f->prio = --s->lowest;
	}
	return highest_runnable(s);
}

static int pick_pct(struct sim_smp *s)
{
	u32 i;

	for (i = 0; i + 1 < s->sched.pct_depth; i++)
		if (s->change_at[i] == s->clock && s->running != HOST)
			s->fiber[s->running].prio = i;
	return highest_runnable(s);
}

/* Follow the recorded runs; where they no longer fit, keep going */
static int pick_replay(struct sim_smp *s)
{
	const struct mmsim_sched_run *runs = s->sched.replay;

	while (s->replay_run < s->sched.nr_replay &&
	       s->replay_used >= runs[s->replay_run].steps) {
		s->replay_run++;
		s->replay_used = 0;
	}
	if (s->replay_run < s->sched.nr_replay) {
		int cpu = runs[s->replay_run].cpu;

		s->replay_used++;
		if (cpu < MMSIM_MAX_CPUS && runnable(s, cpu))
			return cpu;
	}
	return first_runnable(s);
}

static void record(struct sim_smp *s, int cpu)
{
	struct sim_machine *m = s->machine;
	struct mmsim_sched_run *run;

	if (m->nr_schedule && m->schedule[m->nr_schedule - 1].cpu == cpu) {
		m->schedule[m->nr_schedule - 1].steps++;
		return;
	}
	if (m->nr_schedule == m->schedule_cap) {
		u32 cap = m->schedule_cap ? 2 * m->schedule_cap : 256;

		run = realloc(m->schedule, cap * sizeof(*run));
		if (!run) {
			s->record_failed = true;
			return;
		}
		m->schedule = run;
		m->schedule_cap = cap;
	}
	m->schedule[m->nr_schedule].cpu = cpu;
	m->schedule[m->nr_schedule++].steps = 1;
}

static int pick_next(struct sim_smp *s)
{
	int next;

	switch (s->sched.policy) {
	case MMSIM_SCHED_PCT:
		next = pick_pct(s);
		break;
	case MMSIM_SCHED_REPLAY:
		next = pick_replay(s);
		break;
	case MMSIM_SCHED_WINDOW:
		next = pick_window(s);
		break;
	default:
		next = pick_random(s);
		break;
	}
	if (next != HOST)
		record(s, next);
	return next;
}

static void *stack_bottom(struct sim_smp *s, int cpu)
{
	return s->machine->cpu_stacks[cpu];
}

/*
 * Leave the running context for @next's.  @dying: the running CPU is done
 * and will never be resumed.
 */
static void switch_to(struct sim_smp *s, int next, bool dying)
{
	int prev = s->running;
	void **save = prev == HOST ? &s->host_sp : &s->fiber[prev].sp;
	void *next_sp = next == HOST ? s->host_sp : s->fiber[next].sp;
#ifdef SIM_ASAN
	void *fake = NULL;
	const void *bottom = next == HOST ? s->host_bottom :
					    stack_bottom(s, next);
	size_t size = next == HOST ? s->host_size : SIM_STACK_SIZE;

	__sanitizer_start_switch_fiber(dying ? NULL : &fake, bottom, size);
#endif
#ifdef SIM_TSAN
	__tsan_switch_to_fiber(next == HOST ? s->host_tsan :
			       s->fiber[next].tsan, 0);
#endif
	s->running = next;
	sim_cpu = next == HOST ? 0 : next;
	sim_switch_stack(save, next_sp);
#ifdef SIM_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* A scheduling point of the running CPU */
static void schedule(struct sim_smp *s)
{
	int next;

	s->clock++;
	s->machine->clock++;
	next = pick_next(s);
	if (next == HOST) {
		s->deadlock = true;
		sim_report(MMSIM_V_LOCKING, s->running, 0, -1, __func__,
			   "deadlock: every CPU left waits at step %llu",
			   (unsigned long long)s->clock);
	}
	if (next != s->running)
		switch_to(s, next, false);
}

/**
 * sim_interleave - a point where another CPU may run
 *
 * Does nothing in the sequential regime, or while this CPU runs an IPI
 * handler on behalf of another (sim_cpu is then not the running CPU).
 */
void sim_interleave(void)
{
	struct sim_smp *s = sim ? sim->smp : NULL;

	if (!s || sim_cpu != s->running)
		return;
	schedule(s);
}

/**
 * sim_spin_until - wait, letting the other CPUs run, until @cond(@arg)
 *
 * The caller checks @cond first in the sequential regime, where no other
 * CPU could ever make it true.  When the CPUs are host threads, spins.
 */
void sim_spin_until(bool (*cond)(const void *arg), const void *arg)
{
	struct sim_smp *s = sim ? sim->smp : NULL;
	struct sim_fiber *f;

	if (sim && sim_threaded()) {
		unsigned int spins = 0;

		while (!cond(arg))
			sim_spin_pause(&spins);
		return;
	}

	if (!s || sim_cpu != s->running)
		return;
	f = &s->fiber[s->running];
	while (!cond(arg) && !s->deadlock) {
		f->wait_cond = cond;
		f->wait_arg = arg;
		schedule(s);
		f->wait_cond = NULL;
	}
}

/* The life of one simulated CPU in a batch: its ops, in order */
static void cpu_main(void *arg)
{
	struct sim_smp *s = arg;
	int cpu = s->running;
	u32 i;

#ifdef SIM_ASAN
	if (!s->host_bottom)
		__sanitizer_finish_switch_fiber(NULL, &s->host_bottom,
						&s->host_size);
	else
		__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	for (i = 0; i < s->nr_ops && !s->deadlock; i++) {
		struct mmsim_op *op = &s->ops[i];

		if (op->cpu != cpu)
			continue;
		schedule(s);
		if (s->deadlock)
			break;
		op->start = s->clock;
		per_cpu(op_effect, cpu) = 0;
		per_cpu(op_locked, cpu) = 0;
		mmsim_call((struct mmsim *)s->machine, op);
		op->end = s->clock;
		op->effect = per_cpu(op_effect, cpu) ?
			     per_cpu(op_effect, cpu) - s->base : op->end;
		op->locked = per_cpu(op_locked, cpu) ?
			     per_cpu(op_locked, cpu) - s->base : op->start;
	}
	s->fiber[cpu].done = true;
	s->clock++;
	s->machine->clock++;
	switch_to(s, s->deadlock ? HOST : pick_next(s), true);
	BUG_ON(1);	/* a finished CPU is never resumed */
}

static int alloc_stacks(struct sim_machine *m, const bool *used)
{
	int cpu;

	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++) {
		if (!used[cpu] || m->cpu_stacks[cpu])
			continue;
		m->cpu_stacks[cpu] = host_map_zeroed(SIM_STACK_SIZE);
		if (!m->cpu_stacks[cpu])
			return -ENOMEM;
	}
	return 0;
}

void sim_smp_free(struct sim_machine *m)
{
	int cpu;

	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		host_unmap(m->cpu_stacks[cpu], SIM_STACK_SIZE);
	free(m->schedule);
	free(m->pte_log);
}

/* A fresh context on @cpu's stack that will run cpu_main(@s) */
static void prepare_cpu(struct sim_smp *s, int cpu)
{
	u64 *sp = (u64 *)((char *)stack_bottom(s, cpu) + SIM_STACK_SIZE);

	/* popped by sim_switch_stack: r15 r14 r13 r12 rbx rbp, then ret */
	sp -= 9;
	sp[0] = 0;
	sp[1] = 0;
	sp[2] = (u64)cpu_main;
	sp[3] = (u64)s;
	sp[4] = 0;
	sp[5] = 0;
	sp[6] = (u64)sim_cpu_start;
	s->fiber[cpu].sp = sp;
#ifdef SIM_TSAN
	s->fiber[cpu].tsan = __tsan_create_fiber(0);
#endif
}

static int check_batch(struct sim_machine *m, const struct mmsim_op *ops,
		       u32 nr_ops, const struct mmsim_sched *sched,
		       bool *used)
{
	u32 i;

	if (m->broken)
		return -EDEADLK;
	if (sched->policy > MMSIM_SCHED_WINDOW ||
	    sched->switch_permille > 1000 || sched->window_permille > 1000 ||
	    (sched->policy == MMSIM_SCHED_PCT &&
	     (sched->pct_depth < 1 || sched->pct_depth > PCT_MAX_DEPTH)) ||
	    (sched->nr_replay && !sched->replay))
		return -EINVAL;
	for (i = 0; i < nr_ops; i++) {
		if (!sim_syscall_batchable(ops[i].kind) ||
		    ops[i].cpu < 0 || ops[i].cpu >= (int)m->config.nr_cpus)
			return -EINVAL;
		used[ops[i].cpu] = true;
	}
	return 0;
}

static void init_policy(struct sim_smp *s)
{
	int cpu, n = 0, order[MMSIM_MAX_CPUS];
	u32 i;

	u32 base;

	s->rng = s->sched.seed;
	if (s->sched.policy != MMSIM_SCHED_PCT &&
	    s->sched.policy != MMSIM_SCHED_WINDOW)
		return;
	/* distinct priorities above the change points', shuffled */
	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		order[n++] = cpu;
	for (i = n - 1; i > 0; i--) {
		int j = smp_random(s) % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	base = s->sched.policy == MMSIM_SCHED_PCT ? s->sched.pct_depth :
						    1U << 20;
	s->lowest = base;
	for (i = 0; i < (u32)n; i++)
		s->fiber[order[i]].prio = base + i;
	if (s->sched.policy != MMSIM_SCHED_PCT)
		return;
	for (i = 0; i + 1 < s->sched.pct_depth; i++)
		s->change_at[i] = 1 + smp_random(s) %
				      max(s->sched.pct_steps, 1U);
}

int mmsim_run_concurrent(struct mmsim *m, struct mmsim_op *ops,
			 uint32_t nr_ops, const struct mmsim_sched *sched)
{
	struct sim_machine *machine = (struct sim_machine *)m;
	bool used[MMSIM_MAX_CPUS] = { false };
	struct sim_context saved;
	struct sim_smp s = { 0 };
	int cpu, err, first;

	err = check_batch(machine, ops, nr_ops, sched, used);
	if (err)
		return err;
	err = alloc_stacks(machine, used);
	if (err)
		return err;
	s.machine = machine;
	s.ops = ops;
	s.nr_ops = nr_ops;
	s.sched = *sched;
	s.running = HOST;
	init_policy(&s);
#ifdef SIM_TSAN
	s.host_tsan = __tsan_get_current_fiber();
#endif
	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++) {
		s.fiber[cpu].present = used[cpu];
		if (used[cpu])
			prepare_cpu(&s, cpu);
	}
	machine->nr_schedule = 0;
	machine->nr_pte_log = 0;
	s.base = machine->clock;
	saved = sim_enter(machine, 0);
	machine->smp = &s;
	first = pick_next(&s);
	if (first != HOST)
		switch_to(&s, first, false);
	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++) {
		if (s.fiber[cpu].present && !s.fiber[cpu].done &&
		    !s.deadlock) {
			s.deadlock = true;
			sim_report(MMSIM_V_LOCKING, cpu, 0, -1, __func__,
				   "deadlock: cpu %d waits at step %llu", cpu,
				   (unsigned long long)s.clock);
		}
	}
	machine->smp = NULL;
	sim_leave(saved);
#ifdef SIM_TSAN
	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++)
		if (s.fiber[cpu].tsan)
			__tsan_destroy_fiber(s.fiber[cpu].tsan);
#endif
	if (s.deadlock) {
		machine->broken = true;
		return -EDEADLK;
	}
	return s.record_failed ? -ENOMEM : 0;
}

static void log_pte_change(struct sim_smp *s, struct mm_struct *mm,
			   unsigned long addr, u32 what)
{
	struct sim_machine *m = s->machine;
	struct mmsim_pte_event *e;

	if (m->nr_pte_log == m->pte_log_cap) {
		u32 cap = m->pte_log_cap ? 2 * m->pte_log_cap : 256;

		if (cap > MMSIM_PTE_EVENTS_MAX)
			return;
		e = realloc(m->pte_log, cap * sizeof(*e));
		if (!e)
			return;
		m->pte_log = e;
		m->pte_log_cap = cap;
	}
	e = &m->pte_log[m->nr_pte_log++];
	e->what = what;
	e->cpu = smp_processor_id();
	e->mm = mm->id;
	e->pad = 0;
	e->addr = addr & PAGE_MASK;
	e->step = s->clock;
}

/* The running CPU took a translation away: it owes a flush for it */
/* An owed pmd entry: the vpn field holds its 2 MiB's number and this */
#define OWED_PMD	(1UL << 63)
/* An owed huge pmd's translation: its 2 MiB's number and this */
#define OWED_HUGE	(1UL << 62)

static void owe_flush(struct mm_struct *mm, unsigned long vpn, bool any_mm)
{
	struct sim_owed *owed = &__get_cpu_var(owed);

	if (owed->mm != mm || owed->any_mm != any_mm) {
		owed->mm = mm;
		owed->nr = 0;
		owed->all = false;
		owed->any_mm = any_mm;
	}
	if (owed->all)
		return;
	if (owed->nr == SIM_OWED_MAX) {
		owed->all = true;
		owed->all_since = owed->pte[0].step;
		return;
	}
	owed->pte[owed->nr].vpn = vpn;
	owed->pte[owed->nr++].step = sim->clock;
}

/**
 * sim_pte_changed - a pte of @mm at @addr went from @old to @new
 *
 * Called by the pte setters.  In the concurrent regime, logs the change
 * for mmsim_last_pte_events() and, when a translation that a TLB may hold
 * went away or lost rights, records that the running CPU owes a flush
 * for it (see sim_flush_owed_elsewhere()).
 */
void sim_pte_changed(struct mm_struct *mm, unsigned long addr, pte_t *ptep,
		     u64 old, u64 new)
{
	struct sim_smp *s = sim->smp;
	/*
	 * Maps a page: a PROT_NONE pte does, with no translation; so does a
	 * swap entry, the page being in swap.  To or from swap the mm maps
	 * the same page, wherever it is: neither a change nor another frame,
	 * however the entry's bits compare with the pfn's.
	 */
	bool was = pte_present(__pte(old)) || is_swap_pte(__pte(old));
	bool is = pte_present(__pte(new)) || is_swap_pte(__pte(new));
	bool pfn_changed = (old & PTE_PFN_MASK) != (new & PTE_PFN_MASK);

	if (!s || old == new)
		return;
	if (was && !is)
		log_pte_change(s, mm, addr, MMSIM_PTE_CLEARED);
	else if (!was && is)
		log_pte_change(s, mm, addr, MMSIM_PTE_INSTALLED);
	else if (pte_present(__pte(old)) && pte_present(__pte(new)) &&
		 pfn_changed)
		log_pte_change(s, mm, addr, MMSIM_PTE_CHANGED);
	/* what a TLB may hold: a translation gone, moved or made read-only */
	if ((old & _PAGE_PRESENT) &&
	    (!(new & _PAGE_PRESENT) || pfn_changed ||
	     ((old & _PAGE_RW) && !(new & _PAGE_RW)) ||
	     ((old & _PAGE_ACCESSED) && !(new & _PAGE_ACCESSED))))
		owe_flush(mm, addr >> PAGE_SHIFT,
			  pte_table_shared(table_page(ptep)));
}

/*
 * An unshare pointed @mm's pmd entry for @addr at a copy: a CPU may
 * still cache a walk through the old table until the unshare's flush.
 */
void sim_pmd_changed(struct mm_struct *mm, unsigned long addr)
{
	if (sim->smp)
		owe_flush(mm, OWED_PMD | addr >> PMD_SHIFT, false);
}

/* Does the huge pmd entry @e map its page (present or not)? */
static bool huge_maps(u64 e)
{
	return (e & _PAGE_PSE) && !pmd_gathered(__pmd(e));
}

/**
 * sim_huge_pmd_changed - a huge pmd of @mm at @addr went from @old to @new
 *
 * A huge page mapped or unmapped is logged as 512 pte events, one per
 * page, as the linearizer reads them; an invalidation for a split maps
 * the same pages, and is not.  A translation a 2 MiB TLB entry may hold
 * that went away or lost rights is a flush owed for the whole 2 MiB.
 */
void sim_huge_pmd_changed(struct mm_struct *mm, unsigned long addr, u64 old,
			  u64 new)
{
	struct sim_smp *s = sim->smp;
	u32 what = 0;
	unsigned long i;

	if (!s || old == new)
		return;
	addr &= HPAGE_PMD_MASK;
	if (huge_maps(old) && !huge_maps(new))
		what = MMSIM_PTE_CLEARED;
	else if (!huge_maps(old) && huge_maps(new))
		what = MMSIM_PTE_INSTALLED;
	if (what)
		for (i = 0; i < HPAGE_PMD_NR; i++)
			log_pte_change(s, mm, addr + i * PAGE_SIZE, what);
	if ((old & _PAGE_PRESENT) &&
	    (!(new & _PAGE_PRESENT) ||
	     pmd_pfn(__pmd(old)) != pmd_pfn(__pmd(new)) ||
	     ((old & _PAGE_RW) && !(new & _PAGE_RW))))
		owe_flush(mm, OWED_HUGE | addr >> PMD_SHIFT, false);
}

/* The running CPU's flush of @va (or FLUSH_ALL) in @mm has completed */
void sim_tlb_flushed(struct mm_struct *mm, unsigned long va)
{
	struct sim_owed *owed;
	unsigned long vpn = va >> PAGE_SHIFT;
	u32 i;

	if (!sim->smp)
		return;
	owed = &__get_cpu_var(owed);
	if (owed->mm != mm && !owed->any_mm)
		return;
	if (va == FLUSH_ALL) {
		owed->mm = NULL;
		return;
	}
	for (i = 0; i < owed->nr; ) {
		/* invlpg of any address of a 2 MiB entry drops it */
		if (owed->pte[i].vpn == vpn ||
		    owed->pte[i].vpn == (OWED_HUGE | va >> PMD_SHIFT))
			owed->pte[i] = owed->pte[--owed->nr];
		else
			i++;
	}
}

/* Does a call under way on another CPU owe a flush of @vpn in @mm? */
static bool owed_elsewhere(struct mm_struct *mm, unsigned long vpn, u64 since)
{
	int cpu, self = smp_processor_id();
	u32 i;

	if (!sim->smp)
		return false;
	for (cpu = 0; cpu < (int)sim->config.nr_cpus; cpu++) {
		const struct sim_owed *owed = &per_cpu(owed, cpu);

		if (cpu == self || !owed->mm ||
		    (owed->mm != mm && !owed->any_mm))
			continue;
		if (owed->all && owed->all_since >= since)
			return true;
		for (i = 0; i < owed->nr; i++)
			if (owed->pte[i].vpn == vpn &&
			    owed->pte[i].step >= since)
				return true;
	}
	return false;
}

/**
 * sim_flush_owed_elsewhere - does a call under way on another CPU owe a
 *	flush for @addr in @mm, for a change it made at or after @since?
 *
 * The coherence check at the release of mmap_sem excuses such an entry:
 * the call that took the translation away flushes it before it returns.
 * A change made before @since does not excuse the returning call: it
 * began after the pte was cleared, so it must see to the flush itself
 * (two MADV_DONTNEEDs of one range, Linux's mm_tlb_flush_nested()).
 */
bool sim_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr,
			      u64 since)
{
	return owed_elsewhere(mm, addr >> PAGE_SHIFT, since);
}

/*
 * A call under way on another CPU repointed @mm's pmd entry for @addr
 * (an unshare) and has not flushed yet, whenever it began.
 */
bool sim_pmd_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr)
{
	return owed_elsewhere(mm, OWED_PMD | addr >> PMD_SHIFT, 0);
}

/*
 * A call under way on another CPU took away (or write-protected) the huge
 * pmd translation of @addr at or after @since and has not flushed yet.
 */
bool sim_huge_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr,
				   u64 since)
{
	return owed_elsewhere(mm, OWED_HUGE | addr >> PMD_SHIFT, since);
}

/* Copy up to @cap of a run's @nr records of @size bytes out; return @nr */
static u32 copy_out(void *dst, const void *src, u32 nr, u32 cap, size_t size)
{
	if (dst && cap)
		memcpy(dst, src, min(cap, nr) * size);
	return nr;
}

uint32_t mmsim_last_pte_events(struct mmsim *m, struct mmsim_pte_event *events,
			       uint32_t cap)
{
	struct sim_machine *machine = (struct sim_machine *)m;

	return copy_out(events, machine->pte_log, machine->nr_pte_log, cap,
			sizeof(*events));
}

uint32_t mmsim_last_schedule(struct mmsim *m, struct mmsim_sched_run *runs,
			     uint32_t cap)
{
	struct sim_machine *machine = (struct sim_machine *)m;

	return copy_out(runs, machine->schedule, machine->nr_schedule, cap,
			sizeof(*runs));
}
