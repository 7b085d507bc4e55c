/*
 * fuzz.h: what the harnesses in tests/fuzz share.  Each fuzz-NAME.c
 * defines LLVMFuzzerTestOneInput() (and may define LLVMFuzzerInitialize());
 * it is linked with libFuzzer for "make fuzz" (clang) and with replay.c
 * for the replay of tests/data/fuzz/NAME in "make check" (any compiler).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

#include "mdir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private scratch directory, made on first use, removed at exit. */
const char *fuzz_scratch(void);

#endif /* FUZZ_H */
