/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Event counters, in the style of the kernel's vmstat: the kernel counts
 * with count_vm_event() and friends, naming a counter of the machine's one
 * list (MMSIM_COUNTERS() in uapi/mmsim.h, which the driver reads).  The
 * counters are the machine's, not per-CPU; when the CPUs run as host
 * threads they are updated atomically.
 */
#ifndef _TOOLS_LINUX_VMSTAT_H
#define _TOOLS_LINUX_VMSTAT_H

#include <asm/sim/machine.h>

#define count_vm_events(item, delta)	sim_stat_add(item, delta)
#define count_vm_event(item)		count_vm_events(item, 1)

/* TLB flush accounting, counted like any other event */
#define count_vm_tlb_events(item, delta) count_vm_events(item, delta)
#define count_vm_tlb_event(item)	count_vm_events(item, 1)

/* A high-water mark: raise @item to @val */
#define count_vm_peak(item, val)	sim_stat_max(item, val)

/* A counter's value now */
#define global_vm_event(item)		READ_ONCE(sim_stat(item))

#endif /* _TOOLS_LINUX_VMSTAT_H */
