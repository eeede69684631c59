/*
 * liblzma (xz-utils) for Swift: the system library's header, nothing else.
 * The decoder used is lzma_stream_decoder() driven by lzma_code().
 */
#ifndef CLZMA_SHIM_H
#define CLZMA_SHIM_H
#include <lzma.h>
#endif
