/* SPDX-License-Identifier: MIT */
/*
 * mailbox.c: see mailbox.h. A mutex-guarded FIFO and one event that a
 * post makes active (libevent wakes the loop when that happens on another
 * thread); the event's callback takes the whole queue and runs it.
 */
#include "mailbox.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct letter {
    mailbox_fn fn;
    void *arg;
    struct letter *next;
} letter;

struct mailbox {
    pthread_mutex_t mu;
    letter *head, *tail;
    int armed; /* the event is active and will take the queue */
    struct event *ev;
};

/* Take everything queued; the next post arms the event again. */
static letter *take_all(mailbox *m)
{
    pthread_mutex_lock(&m->mu);
    letter *l = m->head;
    m->head = m->tail = NULL;
    m->armed = 0;
    pthread_mutex_unlock(&m->mu);
    return l;
}

static int run_queued(mailbox *m)
{
    letter *l = take_all(m);
    int ran = l != NULL;
    while (l) {
        letter *next = l->next;
        l->fn(l->arg);
        free(l);
        l = next;
    }
    return ran;
}

static void on_post(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_queued(arg);
}

mailbox *mailbox_new(struct event_base *base)
{
    mailbox *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->ev = event_new(base, -1, 0, on_post, m);
    if (!m->ev) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

int mailbox_post(mailbox *m, mailbox_fn fn, void *arg)
{
    letter *l = malloc(sizeof *l);
    if (!l)
        return -1;
    l->fn = fn;
    l->arg = arg;
    l->next = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->tail)
        m->tail->next = l;
    else
        m->head = l;
    m->tail = l;
    int wake = !m->armed;
    m->armed = 1;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        event_active(m->ev, EV_READ, 0);
    return 0;
}

void mailbox_drain(mailbox *m)
{
    while (run_queued(m)) {
    }
}

void mailbox_free(mailbox *m)
{
    if (!m)
        return;
    mailbox_drain(m);
    event_free(m->ev);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
