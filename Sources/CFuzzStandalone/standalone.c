// SPDX-License-Identifier: GPL-2.0
/*
 * A main() for mmfuzz-libfuzzer built without libFuzzer: each file named on
 * the command line is read and passed to LLVMFuzzerTestOneInput() once, as
 * libFuzzer runs a crash input it is given.  Built with -sanitize=fuzzer,
 * libFuzzer's own main() takes its place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_standalone.h"

static int run_file(const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int ret = 0;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "mmfuzz-libfuzzer: %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	do {
		if (len == cap) {
			unsigned char *bigger;

			cap = cap ? 2 * cap : 4096;
			bigger = realloc(buf, cap);
			if (!bigger) {
				ret = -ENOMEM;
				goto out;
			}
			buf = bigger;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		fprintf(stderr, "mmfuzz-libfuzzer: %s: read error\n", path);
		ret = -EIO;
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, len);
	printf("mmfuzz-libfuzzer: %s: %zu bytes, passed\n", path, len);
out:
	free(buf);
	fclose(f);
	return ret;
}

/*
 * SwiftPM links an executable target's entry, <module>_main, as main();
 * built with -sanitize=fuzzer it links libFuzzer's main() instead and
 * this one goes unused.
 */
int mmfuzz_libfuzzer_main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr,
			"usage: %s INPUT...  (built without libFuzzer: runs each input once)\n",
			argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (argv[i][0] != '-' && run_file(argv[i]))
			return 2;
	return 0;
}
