// SPDX-License-Identifier: GPL-2.0
/*
 * The machine's counters, as the driver reads them, and what each one is:
 * both made from the one list, MMSIM_COUNTERS() in uapi/mmsim.h.  The
 * kernel counts with count_vm_event() and friends (<linux/vmstat.h>).
 */
#include <linux/mm.h>

#define COUNTER_INFO(name, kind, desc)	{ #name, desc, MMSIM_COUNTER_##kind },

static const struct mmsim_counter_info counter_info[] =
	MMSIM_COUNTERS(COUNTER_INFO);

int mmsim_counter_info(uint32_t index, struct mmsim_counter_info *out)
{
	BUILD_BUG_ON(ARRAY_SIZE(counter_info) != MMSIM_NR_COUNTERS);
	if (index >= MMSIM_NR_COUNTERS)
		return -EINVAL;
	*out = counter_info[index];
	return 0;
}

uint32_t mmsim_get_counters(struct mmsim *m, uint64_t *values, uint32_t cap)
{
	struct sim_machine *machine = (struct sim_machine *)m;

	memcpy(values, machine->stats,
	       min_t(u32, cap, MMSIM_NR_COUNTERS) * sizeof(u64));
	/* a gauge the frame allocator keeps without counting */
	if (cap > MMSIM_CTR_frames_used_now)
		values[MMSIM_CTR_frames_used_now] =
			machine->config.nr_frames - machine->nr_free;
	return MMSIM_NR_COUNTERS;
}

uint64_t mmsim_counter(struct mmsim *m, uint32_t index)
{
	struct sim_machine *machine = (struct sim_machine *)m;

	if (index >= MMSIM_NR_COUNTERS)
		return 0;
	if (index == MMSIM_CTR_frames_used_now)
		return machine->config.nr_frames - machine->nr_free;
	return machine->stats[index];
}
