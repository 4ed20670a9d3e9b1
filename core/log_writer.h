/*
 * log_writer.h: the thread that appends to the WAL and fsyncs it, with
 * group commit: every entry queued since the last fsync goes out in one
 * write batch and one fsync. When a batch is durable the loop is told the
 * highest durable index (on the loop thread, through an event).
 */
#ifndef LMS_CORE_LOG_WRITER_H
#define LMS_CORE_LOG_WRITER_H

#include "blob.h"
#include "wal.h"

struct event_base;
typedef struct log_writer log_writer;

/* on_durable(arg, index) runs on the loop thread after entries up to index
 * are fsynced. on_error(arg, msg) runs on the loop when a write or fsync
 * fails; the writer stops accepting work (lmsd must stop: a log it cannot
 * write is not a log). */
typedef void (*log_writer_durable_fn)(void *arg, uint64_t index);
typedef void (*log_writer_error_fn)(void *arg, const char *msg);

/* Take ownership of w (the writer closes it at stop). */
int log_writer_start(struct event_base *base, wal *w,
                     log_writer_durable_fn on_durable,
                     log_writer_error_fn on_error, void *arg,
                     log_writer **out, lms_err *err);

/* Loop thread: queue one entry; takes a reference on data. Indexes must be
 * consecutive. */
int log_writer_append(log_writer *lw, uint64_t index, uint64_t term,
                      uint32_t type, blob *data);

/* Finish what is queued (write and fsync), stop the thread, close the WAL. */
void log_writer_stop(log_writer *lw);

#endif
