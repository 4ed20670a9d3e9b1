/* SPDX-License-Identifier: MIT */
/*
 * mailbox.h: hand a function call to the event loop from any thread. The
 * storage thread posts course documents to the tutor runtime with it, and
 * the tutor thread the pieces and the end of an answer; calls run on the
 * loop in the order they were posted (one FIFO per mailbox), which is what
 * keeps a document and its later versions in order.
 *
 * Posting from another thread needs an event base made after
 * evthread_use_pthreads() (lmsd's main does that first).
 */
#ifndef LMS_CORE_MAILBOX_H
#define LMS_CORE_MAILBOX_H

struct event_base;
typedef struct mailbox mailbox;
typedef void (*mailbox_fn)(void *arg);

mailbox *mailbox_new(struct event_base *base);
/* Queue fn(arg) to run on the loop. Any thread. 0, or -1 when out of
 * memory (fn is then not called). */
int mailbox_post(mailbox *m, mailbox_fn fn, void *arg);
/* Loop thread: run what is queued now, and what those calls post, until
 * the queue is empty. */
void mailbox_drain(mailbox *m);
/* Drain, then free. No thread may post any more. */
void mailbox_free(mailbox *m);

#endif
