/* SPDX-License-Identifier: MIT */
/*
 * sqlite_checkpoint.c: WAL checkpoints off the committing thread.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
 * past 1000 pages, on the committing connection: it copies the WAL's
 * frames into the database file and (synchronous=NORMAL or FULL) fsyncs
 * both, while lmsd's storage thread waits in the middle of applying. A 10
 * MB submission crosses the threshold on its own, so its commit paid for
 * one every time.
 *
 * Here the instance's connection only reports the WAL's size (its wal
 * hook); past SQ_CKPT_PAGES a thread of the instance's own, on a
 * connection of its own with the same synchronous setting, runs a PASSIVE
 * checkpoint, which never waits for the writer or readers: it copies what
 * no reader still needs, and the writer starts the WAL over once all of it
 * is copied. Should the thread fall far behind (SQ_CKPT_FORCE_PAGES), the
 * committing connection checkpoints itself, as SQLite would have.
 */
#include "sqlite_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SQ_CKPT_PAGES 1000
#define SQ_CKPT_FORCE_PAGES 16000

struct sq_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want, stop;
    sqlite3 *db;
    sq_inst *owner; /* for its log */
};

static void *sq_ckpt_main(void *arg)
{
    sq_ckpt *ck = arg;
    pthread_mutex_lock(&ck->mu);
    for (;;) {
        while (!ck->want && !ck->stop)
            pthread_cond_wait(&ck->cv, &ck->mu);
        if (ck->stop)
            break;
        ck->want = 0;
        pthread_mutex_unlock(&ck->mu);
        int rc = sqlite3_wal_checkpoint_v2(ck->db, NULL,
                                           SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            sq_log(ck->owner, LMS_LOG_WARN, "background checkpoint of %s: %s",
                   ck->owner->path, sqlite3_errmsg(ck->db));
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

/* The instance's connection committed; the WAL holds pages frames. */
static int sq_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq_ckpt *ck = arg;
    if (pages >= SQ_CKPT_FORCE_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL);
    } else if (pages >= SQ_CKPT_PAGES) {
        pthread_mutex_lock(&ck->mu);
        ck->want = 1;
        pthread_cond_signal(&ck->cv);
        pthread_mutex_unlock(&ck->mu);
    }
    return SQLITE_OK;
}

int sq_ckpt_start(sq_inst *s, const char *synchronous_pragma, lms_err *err)
{
    sq_ckpt *ck = calloc(1, sizeof *ck);
    if (ck == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    ck->owner = s;
    int rc = sqlite3_open_v2(s->path, &ck->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(ck->db, 1000);
        rc = sqlite3_exec(ck->db, synchronous_pragma, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int ret = lms_err_set(err, sq_status_of(rc),
                              "open %s for checkpoints: %s", s->path,
                              ck->db ? sqlite3_errmsg(ck->db)
                                     : sqlite3_errstr(rc));
        sqlite3_close(ck->db);
        free(ck);
        return ret;
    }
    pthread_mutex_init(&ck->mu, NULL);
    pthread_cond_init(&ck->cv, NULL);
    rc = pthread_create(&ck->thread, NULL, sq_ckpt_main, ck);
    if (rc != 0) {
        pthread_mutex_destroy(&ck->mu);
        pthread_cond_destroy(&ck->cv);
        sqlite3_close(ck->db);
        free(ck);
        return lms_err_set(err, LMS_INTERNAL,
                           "open %s: cannot start the checkpoint thread: %s",
                           s->path, strerror(rc));
    }
    pthread_setname_np(ck->thread, "sqlite-ckpt");
    s->ckpt = ck;
    /* from now on the instance's commits only report the WAL's size */
    sqlite3_wal_hook(s->db, sq_wal_hook, ck);
    return LMS_OK;
}

void sq_ckpt_stop(sq_inst *s)
{
    sq_ckpt *ck = s->ckpt;
    if (ck == NULL)
        return;
    if (s->db)
        sqlite3_wal_autocheckpoint(s->db, SQ_CKPT_PAGES); /* SQLite's hook */
    pthread_mutex_lock(&ck->mu);
    ck->stop = 1;
    pthread_cond_signal(&ck->cv);
    pthread_mutex_unlock(&ck->mu);
    pthread_join(ck->thread, NULL);
    sqlite3_close(ck->db);
    pthread_mutex_destroy(&ck->mu);
    pthread_cond_destroy(&ck->cv);
    free(ck);
    s->ckpt = NULL;
}
