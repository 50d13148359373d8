/*
 * Compiled before regress.c of PostgreSQL 15 when it is built for a newer server
 * (tests/regress/lib.sh, docs/regress.md).
 */
#include "postgres.h"
#include "access/htup.h"
#include "fmgr.h"
/* PostgreSQL 16 moved the array declarations out of the headers regress.c includes. */
#include "utils/array.h"

/*
 * Debian's 17 headers (17.12) declare DatumGetHeapTupleHeader as a function, which the
 * sandbox's 17.10 server does not export; there it is this macro.
 */
#if PG_VERSION_NUM >= 170000
#undef DatumGetHeapTupleHeader
#define DatumGetHeapTupleHeader(X) ((HeapTupleHeader) PG_DETOAST_DATUM(X))
#endif

/*
 * PostgreSQL 18 dropped the semaphore emulation of spinlocks and atomics, and with it these
 * counts, which regress.c of 15 sizes one test's array with: there are none to count.
 */
#if PG_VERSION_NUM >= 180000
#define NUM_SPINLOCK_SEMAPHORES 0
#define NUM_ATOMICS_SEMAPHORES 0
#endif
