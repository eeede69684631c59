// SPDX-License-Identifier: GPL-2.0
/*
 * The threaded regime: the simulated CPUs as host threads on real cores.
 *
 * No scheduler and no replay: each thread runs a seeded stream of calls
 * for its CPU through the same entry points the driver uses, and the
 * kernel's own locks are real (kernel/locking/), as are its atomics.  The
 * simulator's shared state is under host locks (struct sim_lock): each
 * CPU's MMU, the frame allocator, the violation log, the mm registry, the
 * shmem objects.  What this finds that the fibers cannot is a data race
 * in the C itself, under ThreadSanitizer, and the orders the host's
 * memory model allows and no scheduler point exposes.
 *
 * An mm is looked up by id without a reference, so the streams only name
 * mms that outlive them: the shared ones, which exit after the threads
 * are joined, and each thread's own children, which only it runs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <linux/mm.h>

#define STRESS_MAX_MMS		4
#define WINDOW_BASE		(0x40200000UL - 32 * PAGE_SIZE)
#define WINDOW_PAGES		64
#define OWN_BASE		0x50000000UL
#define OWN_PAGES		4
#define RANGE_PAGES		16
#define TOUCH_PAGES		8

struct stress_run;

struct stress_thread {
	struct stress_run *run;
	pthread_t thread;
	int cpu;
	int mm;				/* the shared mm it runs now */
	u64 rng;
	u64 seq;
	u64 own[STRESS_MAX_MMS][OWN_PAGES];	/* last value stored */
	u64 ops;
	u64 forks;
	u64 failed_calls;
	u64 bad_values;
	u64 bad_errors;
};

struct stress_run {
	struct sim_machine *machine;
	struct mmsim *m;
	int mms[STRESS_MAX_MMS];
	u32 nr_mms;
	u64 deadline_ns;		/* 0: none */
	u64 ops_per_thread;		/* 0: none */
	int stop;
	struct stress_thread threads[MMSIM_MAX_CPUS];
};

static u64 stress_random(struct stress_thread *t)
{
	u64 z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static unsigned long own_addr(struct stress_thread *t, unsigned int page)
{
	return OWN_BASE + ((unsigned long)t->cpu * OWN_PAGES + page) *
			  PAGE_SIZE;
}

static int mm_slot(struct stress_thread *t)
{
	u32 i;

	for (i = 0; i < t->run->nr_mms; i++)
		if (t->run->mms[i] == t->mm)
			return i;
	return 0;
}

/* A random range of the shared window: [*addr, *addr + *len) */
static void random_range(struct stress_thread *t, u64 *addr, u64 *len)
{
	unsigned int first = stress_random(t) % WINDOW_PAGES;
	unsigned int max = min_t(unsigned int, RANGE_PAGES,
				 WINDOW_PAGES - first);

	*addr = WINDOW_BASE + (u64)first * PAGE_SIZE;
	*len = (1 + stress_random(t) % max) * PAGE_SIZE;
}

static u64 window_word(struct stress_thread *t)
{
	return WINDOW_BASE + (stress_random(t) % WINDOW_PAGES) * PAGE_SIZE +
	       (stress_random(t) % 512) * 8;
}

static void count_call(struct stress_thread *t, int err)
{
	if (err)
		t->failed_calls++;
}

/* A call of @kind by this thread's task of @mm, through mmsim_call() */
static int stress_call(struct stress_thread *t, u32 kind, int mm,
		       struct mmsim_op op)
{
	op.kind = kind;
	op.cpu = t->cpu;
	op.mm = mm;
	return mmsim_call(t->run->m, &op);
}

static int user_load(struct stress_thread *t, int mm, u64 addr, u64 *val)
{
	struct mmsim_op op = { .kind = MMSIM_OP_LOAD, .cpu = t->cpu,
			       .mm = mm, .addr = addr };
	int err = mmsim_call(t->run->m, &op);

	*val = op.out;
	return err;
}

static int user_store(struct stress_thread *t, int mm, u64 addr, u64 val)
{
	return stress_call(t, MMSIM_OP_STORE, mm,
			   (struct mmsim_op){ .addr = addr, .value = val });
}

/* Each thread alone stores to its own region: a load reads its last store */
static void own_load(struct stress_thread *t, int mm, u64 expect,
		     unsigned int page)
{
	u64 val = 0;
	int err = user_load(t, mm, own_addr(t, page), &val);

	if (err)
		t->bad_errors++;
	else if (val != expect)
		t->bad_values++;
}

static void own_store(struct stress_thread *t, unsigned int page)
{
	u64 val = (u64)t->cpu << 56 | ++t->seq;

	if (user_store(t, t->mm, own_addr(t, page), val))
		t->bad_errors++;
	else
		t->own[mm_slot(t)][page] = val;
}

/*
 * Fork the running mm, let the child read and overwrite this thread's own
 * region, exit it: the parent's values must be untouched (copy-on-write).
 */
static void fork_child(struct stress_thread *t)
{
	unsigned int page = stress_random(t) % OWN_PAGES;
	u64 expect = t->own[mm_slot(t)][page];
	struct mmsim_op fork = { .kind = MMSIM_OP_FORK, .cpu = t->cpu,
				 .mm = t->mm };
	u64 val;
	int child, err;

	err = mmsim_call(t->run->m, &fork);
	count_call(t, err);
	if (err)
		return;
	child = fork.out;
	t->forks++;
	own_load(t, child, expect, page);
	err = user_store(t, child, own_addr(t, page), ~expect);
	if (err)
		t->bad_errors++;
	count_call(t, user_load(t, child, window_word(t), &val));
	count_call(t, stress_call(t, MMSIM_OP_EXIT, child,
				  (struct mmsim_op){ 0 }));
	own_load(t, t->mm, expect, page);
}

static void stress_op(struct stress_thread *t)
{
	unsigned int roll = stress_random(t) % 100, i;
	u64 addr, len, val;
	int prot, flags;

	switch (roll) {
	case 0 ... 13:
		random_range(t, &addr, &len);
		prot = stress_random(t) % 8 ? MMSIM_PROT_READ | MMSIM_PROT_WRITE :
					      MMSIM_PROT_READ;
		flags = MMSIM_MAP_FIXED | MMSIM_MAP_ANONYMOUS |
			(stress_random(t) % 5 ? MMSIM_MAP_PRIVATE :
						MMSIM_MAP_SHARED);
		count_call(t, stress_call(t, MMSIM_OP_MMAP, t->mm,
					  (struct mmsim_op){ .addr = addr,
							     .len = len,
							     .prot = prot,
							     .flags = flags }));
		break;
	case 14 ... 19:
		random_range(t, &addr, &len);
		count_call(t, stress_call(t, MMSIM_OP_MUNMAP, t->mm,
					  (struct mmsim_op){ .addr = addr,
							     .len = len }));
		break;
	case 20 ... 27:
		random_range(t, &addr, &len);
		prot = stress_random(t) % 2 ? MMSIM_PROT_READ :
			MMSIM_PROT_READ | MMSIM_PROT_WRITE;
		count_call(t, stress_call(t, MMSIM_OP_MPROTECT, t->mm,
					  (struct mmsim_op){ .addr = addr,
							     .len = len,
							     .prot = prot }));
		break;
	case 28 ... 35:
		random_range(t, &addr, &len);
		count_call(t, stress_call(t, MMSIM_OP_MADVISE, t->mm,
					  (struct mmsim_op){
						.addr = addr, .len = len,
						.flags = MMSIM_MADV_DONTNEED }));
		break;
	case 36 ... 52:
		count_call(t, user_load(t, t->mm, window_word(t), &val));
		break;
	case 53 ... 67:
		count_call(t, user_store(t, t->mm, window_word(t),
					 stress_random(t)));
		break;
	case 68 ... 72:
		addr = window_word(t);
		for (i = 0; i < TOUCH_PAGES &&
		     addr < WINDOW_BASE + WINDOW_PAGES * PAGE_SIZE;
		     i++, addr += PAGE_SIZE)
			count_call(t, user_store(t, t->mm, addr, t->seq + i));
		break;
	case 73 ... 82:
		own_store(t, stress_random(t) % OWN_PAGES);
		break;
	case 83 ... 92:
		i = stress_random(t) % OWN_PAGES;
		own_load(t, t->mm, t->own[mm_slot(t)][i], i);
		break;
	case 93 ... 95:
		t->mm = t->run->mms[stress_random(t) % t->run->nr_mms];
		count_call(t, stress_call(t, MMSIM_OP_SWITCH_MM, t->mm,
					  (struct mmsim_op){ 0 }));
		break;
	case 96 ... 97:
		/* a kernel thread: the mm stays loaded, lazily */
		count_call(t, stress_call(t, MMSIM_OP_SWITCH_MM, MMSIM_NO_MM,
					  (struct mmsim_op){ 0 }));
		break;
	default:
		fork_child(t);
		break;
	}
	t->ops++;
}

static bool should_stop(struct stress_thread *t)
{
	struct stress_run *run = t->run;

	if (__atomic_load_n(&run->stop, __ATOMIC_RELAXED))
		return true;
	if ((run->ops_per_thread && t->ops >= run->ops_per_thread) ||
	    __atomic_load_n(&run->machine->nr_violations, __ATOMIC_RELAXED) ||
	    (run->deadline_ns && !(t->ops % 64) &&
	     now_ns() >= run->deadline_ns)) {
		__atomic_store_n(&run->stop, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

static void *stress_thread_main(void *arg)
{
	struct stress_thread *t = arg;

	while (!should_stop(t))
		stress_op(t);
	return NULL;
}

/* Every shared mm, with each thread's own region mapped in it */
static int stress_setup(struct stress_run *run, u32 nr_threads)
{
	struct mmsim_op op = { .kind = MMSIM_OP_MM_NEW };
	u32 i, cpu;
	int err;

	for (i = 0; i < run->nr_mms; i++) {
		err = mmsim_call(run->m, &op);
		if (err)
			return err;
		run->mms[i] = op.out;
		for (cpu = 0; cpu < nr_threads; cpu++) {
			struct mmsim_op map = {
				.kind = MMSIM_OP_MMAP,
				.mm = run->mms[i],
				.addr = OWN_BASE + cpu * OWN_PAGES * PAGE_SIZE,
				.len = OWN_PAGES * PAGE_SIZE,
				.prot = MMSIM_PROT_READ | MMSIM_PROT_WRITE,
				.flags = MMSIM_MAP_FIXED | MMSIM_MAP_PRIVATE |
					 MMSIM_MAP_ANONYMOUS,
			};

			err = mmsim_call(run->m, &map);
			if (err)
				return err;
		}
	}
	return 0;
}

static void stress_teardown(struct stress_run *run,
			    struct mmsim_stress_result *out)
{
	u32 i;

	out->audit = mmsim_check(run->m);
	for (i = 0; i < run->nr_mms; i++) {
		struct mmsim_op op = { .kind = MMSIM_OP_EXIT,
				       .mm = run->mms[i] };

		if (run->mms[i] >= 0)
			mmsim_call(run->m, &op);
	}
	out->leaks = mmsim_check_leaks(run->m);
}

static void collect(struct stress_run *run, u32 nr_threads,
		    struct mmsim_stress_result *out)
{
	u32 i;

	for (i = 0; i < nr_threads; i++) {
		struct stress_thread *t = &run->threads[i];

		out->ops_by_thread[i] = t->ops;
		out->ops += t->ops;
		out->forks += t->forks;
		out->failed_calls += t->failed_calls;
		out->bad_values += t->bad_values;
		out->bad_errors += t->bad_errors;
	}
}

static int check_params(struct sim_machine *machine,
			const struct mmsim_stress_params *p)
{
	int id;

	if (!p->nr_threads || p->nr_threads > machine->config.nr_cpus ||
	    !p->nr_mms || p->nr_mms > STRESS_MAX_MMS ||
	    machine->broken || machine->smp)
		return -EINVAL;
	for (id = 0; id < machine->nr_mm_ids; id++)
		if (machine->mms[id])
			return -EINVAL;
	return 0;
}

int mmsim_run_threads(struct mmsim *m, const struct mmsim_stress_params *p,
		      struct mmsim_stress_result *out)
{
	struct sim_machine *machine = (struct sim_machine *)m;
	struct stress_run *run;
	u64 start;
	u32 i, started = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = check_params(machine, p);
	if (err)
		return err;
	run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	run->machine = machine;
	run->m = m;
	run->nr_mms = p->nr_mms;
	run->ops_per_thread = p->ops_per_thread;
	for (i = 0; i < STRESS_MAX_MMS; i++)
		run->mms[i] = -1;
	err = stress_setup(run, p->nr_threads);
	if (err)
		goto out_teardown;

	start = now_ns();
	if (p->duration_ms)
		run->deadline_ns = start + p->duration_ms * 1000000ULL;
	machine->threaded = true;
	for (i = 0; i < p->nr_threads; i++) {
		struct stress_thread *t = &run->threads[i];

		t->run = run;
		t->cpu = i;
		t->mm = run->mms[i % run->nr_mms];
		t->rng = p->seed ^ (0x9e3779b97f4a7c15ULL * (i + 1));
		err = -pthread_create(&t->thread, NULL, stress_thread_main, t);
		if (err) {
			__atomic_store_n(&run->stop, 1, __ATOMIC_RELAXED);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(run->threads[i].thread, NULL);
	machine->threaded = false;
	out->elapsed_ns = now_ns() - start;
	collect(run, started, out);

out_teardown:
	stress_teardown(run, out);
	free(run);
	return err;
}
