/* SPDX-License-Identifier: MIT */
/*
 * workers.c: see workers.h. Jobs go to the threads through a mutex-guarded
 * queue; finished jobs come back through a second queue and a pipe whose
 * read end is an event on the loop, so done() always runs on the loop.
 */
#include "workers.h"

#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct job {
    workers_fn work, done;
    void *arg;
    struct job *next;
} job;

typedef struct jobq {
    job *head, *tail;
} jobq;

struct workers {
    char name[32];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jobq todo, finished;
    size_t pending, max_queue;
    int stopping;
    int nthreads;
    int started; /* threads that took their index (worker_main) */
    pthread_t *threads;
    int pipefd[2];
    int wake_pending; /* a byte is in the pipe and not yet drained */
    struct event *ev;
};

static void q_push(jobq *q, job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static job *q_take_all(jobq *q)
{
    job *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static _Thread_local int thread_index = -1;

int workers_thread_index(void) { return thread_index; }

/* linux/ioprio.h's values (not in every libc's headers) */
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_BE 2
#define IOPRIO_WHO_PROCESS 1
#define BACKGROUND_NICE 10
#define BACKGROUND_IO_LEVEL 7

void workers_thread_background(void)
{
    static _Thread_local int done;
    if (done)
        return;
    done = 1;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    /* Linux: a thread's nice value is its own (PRIO_PROCESS with a tid) */
    if (setpriority(PRIO_PROCESS, (id_t)tid, BACKGROUND_NICE) < 0)
        log_warn("cannot lower a background thread's CPU priority: %s",
                 strerror(errno));
    int prio = (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | BACKGROUND_IO_LEVEL;
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)tid, prio) < 0)
        log_warn("cannot lower a background thread's I/O priority: %s",
                 strerror(errno));
}

static void *worker_main(void *p)
{
    workers *w = p;
    pthread_mutex_lock(&w->mu);
    thread_index = w->started++;
    for (;;) {
        while (!w->todo.head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        job *j = w->todo.head;
        if (!j)
            break; /* stopping and nothing left */
        w->todo.head = j->next;
        if (!w->todo.head)
            w->todo.tail = NULL;
        pthread_mutex_unlock(&w->mu);

        j->work(j->arg);

        pthread_mutex_lock(&w->mu);
        q_push(&w->finished, j);
        if (!w->wake_pending) {
            w->wake_pending = 1;
            char c = 1;
            while (write(w->pipefd[1], &c, 1) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void run_finished(workers *w)
{
    pthread_mutex_lock(&w->mu);
    job *j = q_take_all(&w->finished);
    if (w->wake_pending) {
        char buf[16];
        while (read(w->pipefd[0], buf, sizeof buf) > 0) {
        }
        w->wake_pending = 0;
    }
    pthread_mutex_unlock(&w->mu);
    while (j) {
        job *next = j->next;
        if (j->done)
            j->done(j->arg);
        free(j);
        pthread_mutex_lock(&w->mu);
        w->pending--;
        pthread_mutex_unlock(&w->mu);
        j = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_finished(arg);
}

workers *workers_start(struct event_base *base, const char *name, int nthreads,
                       size_t max_queue)
{
    workers *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->name, sizeof w->name, "%s", name);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->max_queue = max_queue;
    w->nthreads = nthreads < 1 ? 1 : nthreads;
    if (pipe2(w->pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
        goto fail;
    w->ev = event_new(base, w->pipefd[0], EV_READ | EV_PERSIST, on_wake, w);
    if (!w->ev || event_add(w->ev, NULL) < 0)
        goto fail;
    w->threads = calloc((size_t)w->nthreads, sizeof *w->threads);
    if (!w->threads)
        goto fail;
    for (int i = 0; i < w->nthreads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            log_error("%s: cannot start thread: %s", name, strerror(errno));
            w->nthreads = i;
            workers_stop(w);
            workers_free(w);
            return NULL;
        }
        char tname[16];
        snprintf(tname, sizeof tname, "%.10s-%d", name, i % 100);
        pthread_setname_np(w->threads[i], tname);
    }
    return w;
fail:
    if (w->ev)
        event_free(w->ev);
    free(w->threads);
    free(w);
    return NULL;
}

int workers_submit(workers *w, workers_fn work, workers_fn done, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || (w->max_queue && w->pending >= w->max_queue)) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return -1;
    }
    w->pending++;
    q_push(&w->todo, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t workers_pending(const workers *w)
{
    workers *mw = (workers *)w;
    pthread_mutex_lock(&mw->mu);
    size_t n = mw->pending;
    pthread_mutex_unlock(&mw->mu);
    return n;
}

void workers_stop(workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    int was = w->stopping;
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (was)
        return;
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    run_finished(w);
}

void workers_free(workers *w)
{
    if (!w)
        return;
    workers_stop(w);
    event_free(w->ev);
    close(w->pipefd[0]);
    close(w->pipefd[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->threads);
    free(w);
}
