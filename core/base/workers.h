/* SPDX-License-Identifier: MIT */
/*
 * workers.h: a pool of threads that run jobs off the event loop and complete
 * them on it. work(arg) runs on a pool thread; done(arg) then runs on the
 * loop thread. A pool of one thread runs jobs strictly in submission order;
 * lmsd's storage thread is such a pool.
 */
#ifndef LMS_CORE_WORKERS_H
#define LMS_CORE_WORKERS_H

#include <stddef.h>

struct event_base;
typedef struct workers workers;

typedef void (*workers_fn)(void *arg);

/* nthreads >= 1; max_queue 0: unbounded. name for thread names/logs. */
workers *workers_start(struct event_base *base, const char *name, int nthreads,
                       size_t max_queue);
/* Queue a job. 0 on success, -1 when the queue is full or the pool stops.
 * done may be NULL. Callable from the loop thread only. */
int workers_submit(workers *w, workers_fn work, workers_fn done, void *arg);
/* On a pool thread: its index in its pool, 0 to nthreads - 1, so that a
 * job can use what belongs to its thread (a storage reader, say); -1 on
 * any other thread. */
int workers_thread_index(void);
/* On any thread: lower the calling thread's CPU priority (nice 10) and
 * I/O priority (best effort, lowest level), so that under contention it
 * takes a small share of the cores and the disk and leaves the rest to
 * the threads that serve (a snapshot being written, say); alone it runs
 * at full speed. Once per thread; a failure is logged once and ignored. */
void workers_thread_background(void);
/* Number of jobs queued or running. */
size_t workers_pending(const workers *w);
/* Refuse new jobs, run every queued one, join the threads. Pending done
 * callbacks run before this returns (on the calling thread, which must be
 * the loop's); a done callback may still call workers_submit on this or
 * another stopped pool and get -1. Idempotent. */
void workers_stop(workers *w);
/* Stop (if not yet) and free. */
void workers_free(workers *w);

#endif
