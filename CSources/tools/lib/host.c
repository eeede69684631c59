// SPDX-License-Identifier: GPL-2.0
/*
 * Host memory for the simulated machine's physical frames.  Kept apart
 * from the kernel headers, whose MAP_* names clash with the host's.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

void *host_map_zeroed(size_t size)
{
	void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return addr == MAP_FAILED ? NULL : addr;
}

void host_unmap(void *addr, size_t size)
{
	if (addr)
		munmap(addr, size);
}

/*
 * Frame memory of powered-off machines, kept for the next machine of the
 * same size.  Mapping a fresh region, faulting each frame in on its first
 * touch and unmapping it again cost more than a short case's whole run;
 * clearing what the last machine wrote costs a fraction of that.  A few
 * slots: one per machine alive at once in a usual run, so that what is
 * kept stays within what the run needed at its peak.
 */
#define HOST_CACHE_SLOTS	4

static struct host_region {
	void *addr;
	size_t size;
	size_t dirty;		/* what to clear before reuse */
} host_cache[HOST_CACHE_SLOTS];
static pthread_mutex_t host_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/**
 * host_frames_get - frame memory for a new machine
 * @size: its size in bytes
 *
 * Return: @size bytes of zeroes, reused from a powered-off machine when
 * one of the same size was kept, else freshly mapped; NULL when the host
 * has no memory left.
 */
void *host_frames_get(size_t size)
{
	void *addr = NULL;
	size_t dirty = 0;
	int i;

	pthread_mutex_lock(&host_cache_lock);
	for (i = 0; i < HOST_CACHE_SLOTS; i++) {
		if (host_cache[i].addr && host_cache[i].size == size) {
			addr = host_cache[i].addr;
			dirty = host_cache[i].dirty;
			host_cache[i].addr = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&host_cache_lock);
	if (!addr)
		return host_map_zeroed(size);
	memset(addr, 0, dirty);
	return addr;
}

/**
 * host_frames_put - give back a machine's frame memory
 * @addr: what host_frames_get() returned, or NULL
 * @size: its size
 * @dirty: the length of its prefix that may hold anything but zeroes
 *
 * Keeps the region for the next machine of the same size, which clears
 * that prefix first, if a slot is free; else unmaps it.
 */
void host_frames_put(void *addr, size_t size, size_t dirty)
{
	int i;

	if (!addr)
		return;
	pthread_mutex_lock(&host_cache_lock);
	for (i = 0; i < HOST_CACHE_SLOTS; i++) {
		if (!host_cache[i].addr) {
			host_cache[i].addr = addr;
			host_cache[i].size = size;
			host_cache[i].dirty = dirty < size ? dirty : size;
			addr = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&host_cache_lock);
	host_unmap(addr, size);
}
