// SPDX-License-Identifier: GPL-2.0
/*
 * Booting and tearing down a simulated machine, the thread-local context
 * the kernel code runs in, and the record of what the checkers found.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>
#include <asm-generic/tlb.h>

__thread struct sim_machine *sim;
__thread int sim_cpu;

struct sim_context sim_enter(struct sim_machine *m, int cpu)
{
	struct sim_context saved = { sim, sim_cpu };

	sim = m;
	sim_cpu = cpu;
	return saved;
}

void sim_leave(struct sim_context saved)
{
	sim = saved.machine;
	sim_cpu = saved.cpu;
}

void trace_mmu_gather_phase(struct mmu_gather *tlb, int phase)
{
	if (unlikely(sim->gather_phase_probe))
		sim->gather_phase_probe(tlb->mm, phase);
}

int num_online_cpus(void)
{
	return sim->config.nr_cpus;
}

struct task_struct *get_current(void)
{
	return &__get_cpu_var(task);
}

void sim_report(int kind, int cpu, u64 addr, long pfn, const char *func,
		const char *fmt, ...)
{
	struct mmsim_violation *v;
	va_list args;
	u32 nr;

	sim_lock_threaded(&sim->report_lock);
	nr = sim->nr_violations;
	__atomic_store_n(&sim->nr_violations, nr + 1, __ATOMIC_RELAXED);
	if (nr >= SIM_MAX_VIOLATIONS) {
		sim_unlock_threaded(&sim->report_lock);
		return;
	}
	v = &sim->violations[nr];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->cpu = cpu;
	v->addr = addr;
	v->pfn = pfn;
	snprintf(v->function, sizeof(v->function), "%s", func);
	va_start(args, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, args);
	va_end(args);
	sim_unlock_threaded(&sim->report_lock);
}

/**
 * should_fail_alloc - fault injection for every allocation of the kernel
 *
 * Counts down the armed fail-nth counter; the allocation that brings it to
 * zero fails, once.
 */
bool should_fail_alloc(void)
{
	if (!sim->fail_nth)
		return false;
	if (--sim->fail_nth)
		return false;
	sim_stat_inc(alloc_failures);
	return true;
}

/*
 * The mm named @id, while some task still uses it.  An mm that only lazy
 * CPUs still hold (mm_users == 0) stays in the table until __mmdrop(), so
 * that the machine can free it, but is no longer reachable by id.
 */
struct mm_struct *sim_mm_by_id(int id)
{
	struct mm_struct *mm = NULL;

	sim_lock_threaded(&sim->mms_lock);
	if (id >= 0 && id < sim->nr_mm_ids)
		mm = sim->mms[id];
	sim_unlock_threaded(&sim->mms_lock);
	if (!mm || mm->mm_users <= 0)
		return NULL;
	return mm;
}

/* Give @mm the next id; ids are never reused, so stale ones stay invalid */
int sim_mm_register(struct mm_struct *mm)
{
	struct mm_struct **mms;
	int cap, err = 0;

	sim_lock_threaded(&sim->mms_lock);
	if (sim->nr_mm_ids == sim->mm_ids_cap) {
		cap = sim->mm_ids_cap ? 2 * sim->mm_ids_cap : 16;
		mms = realloc(sim->mms, cap * sizeof(*mms));
		if (!mms) {
			err = -ENOMEM;
			goto out;
		}
		sim->mms = mms;
		sim->mm_ids_cap = cap;
	}
	mm->id = sim->nr_mm_ids++;
	sim->mms[mm->id] = mm;
out:
	sim_unlock_threaded(&sim->mms_lock);
	return err;
}

void sim_mm_unregister(struct mm_struct *mm)
{
	sim_lock_threaded(&sim->mms_lock);
	sim->mms[mm->id] = NULL;
	sim_unlock_threaded(&sim->mms_lock);
}

void mmsim_default_config(struct mmsim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_cpus = 4;
	cfg->nr_frames = 4096;
	cfg->tlb_entries = 64;
	cfg->psc_entries = 16;
	cfg->gather = MMSIM_GATHER_VECTOR;
	cfg->ptl = MMSIM_PTL_MM;
	cfg->preempt = 1;
}

static int check_config(const struct mmsim_config *cfg)
{
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > MMSIM_MAX_CPUS)
		return -EINVAL;
	if (cfg->nr_frames < 16 || cfg->nr_frames > (1U << 22))
		return -EINVAL;
	if (cfg->tlb_entries < TLB_WAYS || cfg->tlb_entries % TLB_WAYS ||
	    cfg->tlb_entries > 4096)
		return -EINVAL;
	if (cfg->psc_entries < 1 || cfg->psc_entries > 256)
		return -EINVAL;
	if (cfg->gather != MMSIM_GATHER_VECTOR &&
	    cfg->gather != MMSIM_GATHER_INPLACE)
		return -EINVAL;
	if (cfg->ptl != MMSIM_PTL_MM && cfg->ptl != MMSIM_PTL_SPLIT)
		return -EINVAL;
	if (cfg->preempt > 1)
		return -EINVAL;
	if (cfg->share != MMSIM_SHARE_OFF && cfg->share != MMSIM_SHARE_FORK)
		return -EINVAL;
	if (cfg->sharemask != MMSIM_SHAREMASK_ALL &&
	    cfg->sharemask != MMSIM_SHAREMASK_PRECISE)
		return -EINVAL;
	/* sharers' own page_table_locks cannot guard a table they share */
	if (cfg->share == MMSIM_SHARE_FORK && cfg->ptl != MMSIM_PTL_SPLIT)
		return -EINVAL;
	return 0;
}

/*
 * The physical memory of powered-off machines, kept for the next machine
 * with as many frames: mapping a fresh region, faulting each frame in on
 * its first touch and unmapping it again cost more than a short case's
 * whole run.  A machine takes frames lowest first off its free stack and
 * writes only to frames it has taken, so everything it changed lies below
 * its frames_hw: the frames there (cleared), their struct pages and the
 * top of the free stack are put back as at boot, the rest is as at boot
 * already.  One spare (a run has one machine at a time), which keeps at
 * most SPARE_FRAMES frames resident, cleared when reused, and none while
 * a machine of another size runs: the host takes back the others, so that
 * a run holds no more memory than before.
 */
#define SPARE_SLOTS	1
#define SPARE_FRAMES	1024

struct spare_memory {
	u64 *mem;
	struct page *mem_map;
	u32 *free_list;
	u32 nr_frames;
	u32 used;		/* frames_hw of the last machine on it */
	u32 dirty;		/* frames of those still resident */
};

static struct spare_memory spares[SPARE_SLOTS];
static pthread_mutex_t spares_lock = PTHREAD_MUTEX_INITIALIZER;

/* Frames below @to as at boot: free, lowest on top of the stack */
static void init_frames(struct sim_machine *m, u32 to)
{
	u32 nr = m->config.nr_frames, pfn;

	for (pfn = 0; pfn < to; pfn++) {
		m->mem_map[pfn].flags = 1UL << PG_buddy;
		m->mem_map[pfn]._mapcount = -1;
		m->free_list[nr - 1 - pfn] = pfn;
	}
	m->nr_free = nr;
	for (pfn = 0; pfn < m->nr_blocks; pfn++)
		m->block_free[pfn] = HPAGE_PMD_NR;
}

static int boot_memory(struct sim_machine *m)
{
	u32 nr = m->config.nr_frames;
	struct spare_memory spare = { 0 };
	int i;

	m->nr_blocks = nr / HPAGE_PMD_NR;
	m->block_free = calloc(m->nr_blocks + 1, sizeof(*m->block_free));
	if (!m->block_free)
		return -ENOMEM;

	pthread_mutex_lock(&spares_lock);
	for (i = 0; i < SPARE_SLOTS; i++) {
		if (spares[i].mem && spares[i].nr_frames == nr) {
			spare = spares[i];
			spares[i].mem = NULL;
			break;
		}
		if (spares[i].mem && spares[i].dirty) {
			host_discard(spares[i].mem,
				     (size_t)spares[i].dirty * PAGE_SIZE);
			spares[i].dirty = 0;
		}
	}
	pthread_mutex_unlock(&spares_lock);
	if (spare.mem) {
		m->mem = spare.mem;
		m->mem_map = spare.mem_map;
		m->free_list = spare.free_list;
		memset(m->mem, 0, (size_t)spare.dirty * PAGE_SIZE);
		m->frames_cleared = spare.dirty;
		memset(m->mem_map, 0, spare.used * sizeof(*m->mem_map));
		init_frames(m, spare.used);
		return 0;
	}
	/* Fresh: the host's zero pages, which cost nothing until touched */
	m->mem = host_map_zeroed((size_t)nr * PAGE_SIZE);
	m->mem_map = calloc(nr, sizeof(*m->mem_map));
	m->free_list = calloc(nr, sizeof(*m->free_list));
	if (!m->mem || !m->mem_map || !m->free_list)
		return -ENOMEM;
	init_frames(m, nr);
	return 0;
}

static void put_memory(struct sim_machine *m)
{
	int i;

	pthread_mutex_lock(&spares_lock);
	for (i = 0; i < SPARE_SLOTS; i++) {
		if (!m->mem || !m->mem_map || !m->free_list)
			break;
		if (!spares[i].mem) {
			spares[i].mem = m->mem;
			spares[i].mem_map = m->mem_map;
			spares[i].free_list = m->free_list;
			spares[i].nr_frames = m->config.nr_frames;
			spares[i].used = m->frames_hw;
			spares[i].dirty = min_t(u32, m->frames_hw,
						SPARE_FRAMES);
			if (m->frames_hw > SPARE_FRAMES)
				host_discard((char *)m->mem +
					     SPARE_FRAMES * PAGE_SIZE,
					     (size_t)(m->frames_hw -
						      SPARE_FRAMES) * PAGE_SIZE);
			m->mem = NULL;
			m->mem_map = NULL;
			m->free_list = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&spares_lock);
	free(m->free_list);
	free(m->mem_map);
	free(m->block_free);
	host_unmap(m->mem, (size_t)m->config.nr_frames * PAGE_SIZE);
}

static void free_machine(struct sim_machine *m)
{
	unsigned int cpu;

	for (cpu = 0; cpu < MMSIM_MAX_CPUS; cpu++) {
		sim_mmu_exit(&m->percpu[cpu].mmu);
		free(m->percpu[cpu].mmu_gathers);
	}
	sim_smp_free(m);
	free(m->mms);
	free(m->audit_maps);
	free(m->audit_refs);
	free(m->audit_table);
	free(m->audit_slots);
	swap_info_free(m->swap_info);
	put_memory(m);
	free(m);
}

/**
 * mmsim_create - boot a machine
 * @cfg: its hardware and kernel configuration
 * @out: the new machine
 *
 * Return: 0, -EINVAL for a configuration the machine cannot run, or
 * -ENOMEM when the host cannot hold it.
 */
int mmsim_create(const struct mmsim_config *cfg, struct mmsim **out)
{
	struct sim_machine *m;
	unsigned int cpu;
	int err;

	err = check_config(cfg);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->config = *cfg;
	/* Lowest frames on top of the stack: allocation order is stable */
	if (boot_memory(m))
		goto out_nomem;

	for (cpu = 0; cpu < cfg->nr_cpus; cpu++) {
		struct sim_percpu *pc = &m->percpu[cpu];

		if (sim_mmu_init(&pc->mmu, cfg->tlb_entries,
				 cfg->psc_entries))
			goto out_nomem;
		if (cfg->gather == MMSIM_GATHER_VECTOR) {
			pc->mmu_gathers = calloc(1, sizeof(*pc->mmu_gathers));
			if (!pc->mmu_gathers)
				goto out_nomem;
			m->stats[MMSIM_CTR_gather_percpu_bytes] +=
				sizeof(*pc->mmu_gathers);
		}
	}
	*out = (struct mmsim *)m;
	return 0;

out_nomem:
	free_machine(m);
	return -ENOMEM;
}

/**
 * mmsim_destroy - power a machine off
 * @m: the machine, or NULL
 *
 * Frees the host memory of the machine and of every mm still alive on it,
 * without running the simulated kernel's teardown.
 */
void mmsim_destroy(struct mmsim *m)
{
	struct sim_machine *machine = (struct sim_machine *)m;
	struct sim_context saved;
	struct vm_area_struct *vma, *next;
	unsigned long pfn;
	int id;

	if (!machine)
		return;
	saved = sim_enter(machine, 0);
	for (id = 0; id < machine->nr_mm_ids; id++) {
		struct mm_struct *mm = machine->mms[id];

		if (!mm)
			continue;
		for (vma = mm->mmap; vma; vma = next) {
			next = vma->vm_next;
			remove_vma(vma);
		}
		if (mm->anon_vma)
			put_anon_vma(mm->anon_vma);
		free(mm);
	}
	for (pfn = 0; pfn < machine->frames_hw; pfn++) {
		struct page *table = &machine->mem_map[pfn];

		while (table->sharers) {
			struct pt_sharer *s = table->sharers;

			table->sharers = s->next;
			kfree(s);
		}
	}
	sim_leave(saved);
	free_machine(machine);
}

void mmsim_fail_nth_alloc(struct mmsim *m, uint64_t nth)
{
	((struct sim_machine *)m)->fail_nth = nth;
}

uint32_t mmsim_nr_violations(struct mmsim *m)
{
	struct sim_machine *machine = (struct sim_machine *)m;

	return min_t(u32, machine->nr_violations, SIM_MAX_VIOLATIONS);
}

int mmsim_violation(struct mmsim *m, uint32_t index,
		    struct mmsim_violation *out)
{
	if (index >= mmsim_nr_violations(m))
		return -ENOENT;
	*out = ((struct sim_machine *)m)->violations[index];
	return 0;
}

void mmsim_clear_violations(struct mmsim *m)
{
	((struct sim_machine *)m)->nr_violations = 0;
}
