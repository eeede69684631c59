// SPDX-License-Identifier: GPL-2.0
/*
 * Host memory for the simulated machine's physical frames.  Kept apart
 * from the kernel headers, whose MAP_* names clash with the host's.
 */
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

/* Give @size bytes at @addr back to the host: they read as zeroes again */
void host_discard(void *addr, size_t size)
{
	if (size)
		madvise(addr, size, MADV_DONTNEED);
}
