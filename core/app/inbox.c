/* SPDX-License-Identifier: MIT */
/*
 * inbox.c: announcements, read marks and a student's inbox (see inbox.h).
 *
 * inbox_collect reads each source once, never from inside another list
 * walk (a walk's rows live only during its callback): what a later
 * lookup needs is copied out first.
 */
#include "inbox.h"

#include "assignments.h"
#include "lms_assert.h"
#include "records.pb-c.h"
#include "rules.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_DIGITS 20
#define EXCERPT_MAX 100 /* bytes of a title or a text's first line in a summary */
#define EXT_PART "/ext/"
#define RELEASED_PREFIX INBOX_KEY_PREFIX ".released/"
#define KEY_CAP 160 /* prefix + a name + a separator + 20 digits, and room */

/* ---- keys and values ------------------------------------------------------ */

static int name_ok(const char *what, const char *s, lms_err *err)
{
    size_t n = strlen(s);
    if (n == 0 || n > LMS_NAME_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "%s must be 1 to %d bytes", what,
                           LMS_NAME_MAX);
    return LMS_OK;
}

static void key_of(char *key, const char *prefix, const char *name, const char *sep,
                   uint64_t id)
{
    int w = snprintf(key, KEY_CAP, "%s%s%s%0*" PRIu64, prefix, name, sep, ID_DIGITS, id);
    LMS_ASSERT(w > 0 && w < KEY_CAP);
}

/* The id at the end of a key: exactly ID_DIGITS digits after skip bytes. */
static int id_of_key(const char *key, size_t skip, uint64_t *id, lms_err *err)
{
    const char *p = key + skip;
    uint64_t v = 0;
    size_t i;
    for (i = 0; p[i] >= '0' && p[i] <= '9' && i < ID_DIGITS; i++)
        v = v * 10 + (uint64_t)(p[i] - '0'); /* 20 digits fit unless > 2^64 */
    if (i != ID_DIGITS || p[i] != '\0')
        return lms_err_set(err, LMS_INTERNAL, "the record key %s is not of the form "
                           "PREFIX<%d digits>", key, ID_DIGITS);
    *id = v;
    return LMS_OK;
}

/* Pack m (of descriptor d) into a malloc'd buffer and store it under key. */
static int put_message(const struct lms_storage_ops *ops, void *st, const char *key,
                       const ProtobufCMessage *m, lms_err *err)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory for record %s", key);
    protobuf_c_message_pack(m, buf);
    int rc = ops->record_put(st, key, buf, n, err);
    free(buf);
    return rc;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- announcements -------------------------------------------------------- */

int announcement_put(const struct lms_storage_ops *ops, void *st, const announcement *a,
                     lms_err *err)
{
    char key[KEY_CAP];
    if (name_ok("a course code", a->course, err) != LMS_OK)
        return err->code;
    key_of(key, ANN_KEY_PREFIX, a->course, "/", a->id);
    Lms__AnnouncementRecord m = LMS__ANNOUNCEMENT_RECORD__INIT;
    m.author = (char *)a->author;
    m.title = (char *)a->title;
    m.text = (char *)a->text;
    m.created = a->created;
    return put_message(ops, st, key, &m.base, err);
}

/* A walk of a course's announcement records. */
typedef struct ann_walk {
    const char *course;
    size_t prefix_len;
    announcement_each_fn each;
    void *arg;
    lms_err *err;
    int rc;
} ann_walk;

static int ann_each(void *arg, const lms_record *r)
{
    ann_walk *w = arg;
    announcement a = {0};
    if ((w->rc = id_of_key(r->key, w->prefix_len, &a.id, w->err)) != LMS_OK)
        return 1;
    Lms__AnnouncementRecord *m = lms__announcement_record__unpack(NULL, r->len, r->value);
    if (!m) {
        w->rc = lms_err_set(w->err, LMS_INTERNAL,
                            "the stored announcement %s does not decode", r->key);
        return 1;
    }
    copy(a.course, sizeof a.course, w->course);
    copy(a.author, sizeof a.author, m->author);
    copy(a.title, sizeof a.title, m->title);
    a.text = m->text;
    a.created = m->created;
    int stop = w->each(w->arg, &a);
    lms__announcement_record__free_unpacked(m, NULL);
    return stop;
}

int announcement_get(const struct lms_storage_ops *ops, void *st, const char *course,
                     uint64_t id, announcement_each_fn each, void *arg, lms_err *err)
{
    char key[KEY_CAP];
    lms_record r;
    if (name_ok("a course code", course, err) != LMS_OK)
        return err->code;
    key_of(key, ANN_KEY_PREFIX, course, "/", id);
    int rc = ops->record_get(st, key, &r, err);
    if (rc != LMS_OK)
        return rc;
    ann_walk w = {.course = course, .prefix_len = strlen(key) - ID_DIGITS, .each = each,
                  .arg = arg, .err = err, .rc = LMS_OK};
    ann_each(&w, &r);
    return w.rc;
}

int announcement_list(const struct lms_storage_ops *ops, void *st, const char *course,
                      uint64_t before, announcement_each_fn each, void *arg, lms_err *err)
{
    char prefix[KEY_CAP], after[KEY_CAP];
    if (name_ok("a course code", course, err) != LMS_OK)
        return err->code;
    int w = snprintf(prefix, sizeof prefix, ANN_KEY_PREFIX "%s/", course);
    LMS_ASSERT(w > 0 && (size_t)w < sizeof prefix);
    if (before)
        key_of(after, ANN_KEY_PREFIX, course, "/", before);
    ann_walk x = {.course = course, .prefix_len = (size_t)w, .each = each, .arg = arg,
                  .err = err, .rc = LMS_OK};
    int rc = ops->record_list(st, prefix, before ? after : NULL, 1, ann_each, &x, err);
    return rc != LMS_OK ? rc : x.rc;
}

/* ---- the read mark and the noted times ------------------------------------- */

int inbox_mark_get(const struct lms_storage_ops *ops, void *st, const char *user,
                   int64_t *seen, lms_err *err)
{
    char key[KEY_CAP];
    lms_record r;
    *seen = 0;
    if (name_ok("a user name", user, err) != LMS_OK)
        return err->code;
    snprintf(key, sizeof key, INBOX_KEY_PREFIX "%s", user);
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    Lms__InboxMarkRecord *m = lms__inbox_mark_record__unpack(NULL, r.len, r.value);
    if (!m)
        return lms_err_set(err, LMS_INTERNAL, "the stored read mark %s does not decode", key);
    *seen = m->seen;
    lms__inbox_mark_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int inbox_mark_put(const struct lms_storage_ops *ops, void *st, const char *user,
                   int64_t seen, int64_t changed, lms_err *err)
{
    char key[KEY_CAP];
    if (name_ok("a user name", user, err) != LMS_OK)
        return err->code;
    snprintf(key, sizeof key, INBOX_KEY_PREFIX "%s", user);
    Lms__InboxMarkRecord m = LMS__INBOX_MARK_RECORD__INIT;
    m.seen = seen;
    m.changed = changed;
    return put_message(ops, st, key, &m.base, err);
}

static int put_event(const struct lms_storage_ops *ops, void *st, const char *key,
                     int64_t time, const char *by, int64_t until, lms_err *err)
{
    Lms__InboxEventRecord m = LMS__INBOX_EVENT_RECORD__INIT;
    m.time = time;
    m.by = (char *)by;
    m.until = until;
    return put_message(ops, st, key, &m.base, err);
}

int inbox_note_extension(const struct lms_storage_ops *ops, void *st, const char *student,
                         uint64_t aid, int64_t time, const char *by, int64_t until,
                         lms_err *err)
{
    char key[KEY_CAP];
    if (name_ok("a user name", student, err) != LMS_OK)
        return err->code;
    key_of(key, INBOX_KEY_PREFIX, student, EXT_PART, aid);
    return put_event(ops, st, key, time, by, until, err);
}

int inbox_note_release(const struct lms_storage_ops *ops, void *st, uint64_t aid,
                       int64_t time, const char *by, lms_err *err)
{
    char key[KEY_CAP];
    key_of(key, RELEASED_PREFIX, "", "", aid);
    return put_event(ops, st, key, time, by, 0, err);
}

/* The event under key into *out (time 0 when there is none). */
static int get_event(const struct lms_storage_ops *ops, void *st, const char *key,
                     Lms__InboxEventRecord **out, lms_err *err)
{
    lms_record r;
    *out = NULL;
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    *out = lms__inbox_event_record__unpack(NULL, r.len, r.value);
    if (!*out)
        return lms_err_set(err, LMS_INTERNAL, "the stored record %s does not decode", key);
    return LMS_OK;
}

/* ---- summaries ------------------------------------------------------------- */

const char *inbox_kind_name(int kind)
{
    static const char *const names[INBOX_KINDS] = {
        [INBOX_ANNOUNCEMENT] = "announcement", [INBOX_ASSIGNMENT] = "assignment",
        [INBOX_GRADE] = "grade", [INBOX_REPLY] = "reply", [INBOX_EXTENSION] = "extension"};
    return kind >= 0 && kind < INBOX_KINDS ? names[kind] : "?";
}

/* The first non-blank line of s, at most EXCERPT_MAX bytes cut at a
 * character boundary ("..." added when cut), into dst. */
static void excerpt(char *dst, size_t cap, const char *s)
{
    LMS_ASSERT(cap > EXCERPT_MAX + 3);
    s += strspn(s, " \t\r\n");
    size_t n = strcspn(s, "\r\n"), keep = n;
    if (keep > EXCERPT_MAX) {
        keep = EXCERPT_MAX;
        while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
            keep--; /* s[keep] begins a character: cut before it */
    }
    memcpy(dst, s, keep);
    strcpy(dst + keep, keep < n ? "..." : "");
}


/* ---- collecting a student's inbox ------------------------------------------- */

typedef struct course_part {
    char code[LMS_NAME_MAX + 1];
    int role; /* the user's enrolment role */
} course_part;

/* An assignment of a course the user takes, with its state (asg_get). */
typedef struct asg_seen {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    char by[LMS_NAME_MAX + 1];
    int64_t due, created;
    asg_state state; /* hidden, deleted, late penalty, changes */
} asg_seen;

typedef struct grade_seen {
    uint64_t sid, aid;
    char course[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    char grader[LMS_NAME_MAX + 1];
    double grade, max_points;
    uint32_t attempt;
    int64_t graded, submitted, due;
    int held; /* hold_grades and released: seen from the release on */
} grade_seen;

typedef struct query_seen {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
} query_seen;

typedef struct ext_seen {
    uint64_t aid;
    int64_t time, until;
    char by[LMS_NAME_MAX + 1];
} ext_seen;

/* A growable array of n elements of size bytes. */
typedef struct vec {
    void *v;
    size_t n, cap;
} vec;

typedef struct collect {
    const struct lms_storage_ops *ops;
    void *st;
    const char *user;
    int64_t since, until;
    lms_err *err;
    int rc;       /* a failure inside a walk */
    vec items;    /* inbox_item */
    vec courses;  /* course_part, by code */
    vec asgs;     /* asg_seen */
    vec grades;   /* grade_seen */
    vec queries;  /* query_seen */
    vec exts;     /* ext_seen */
    const char *course; /* of the announcement walk */
} collect;

/* A new zeroed element at the end of v; NULL (x->rc set) when out of
 * memory. */
static void *push(collect *x, vec *v, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        void *p = realloc(v->v, cap * size);
        if (!p) {
            x->rc = lms_err_set(x->err, LMS_RESOURCE_EXHAUSTED,
                                "out of memory collecting the inbox of %s", x->user);
            return NULL;
        }
        v->v = p;
        v->cap = cap;
    }
    void *e = (char *)v->v + v->n++ * size;
    memset(e, 0, size);
    return e;
}

static int in_window(const collect *x, int64_t t)
{
    return t > x->since && (x->until == 0 || t <= x->until);
}

/* The user's enrolment role in course (LMS_ROLE_NONE: not enrolled). */
static int role_in(const collect *x, const char *course)
{
    const course_part *c = x->courses.v;
    for (size_t i = 0; i < x->courses.n; i++)
        if (strcmp(c[i].code, course) == 0)
            return c[i].role;
    return LMS_ROLE_NONE;
}

static inbox_item *add(collect *x, int kind, int64_t t, uint64_t id, const char *course,
                       const char *by)
{
    inbox_item *it = push(x, &x->items, sizeof *it);
    if (!it)
        return NULL;
    it->kind = kind;
    it->time = t;
    it->id = id;
    copy(it->course, sizeof it->course, course);
    copy(it->by, sizeof it->by, by);
    return it;
}

static int course_each(void *arg, const void *row)
{
    collect *x = arg;
    const lms_course *c = row;
    if (c->my_role == LMS_ROLE_NONE) /* a course they left (unenroll) */
        return 0;
    course_part *p = push(x, &x->courses, sizeof *p);
    if (!p)
        return 1;
    copy(p->code, sizeof p->code, c->code);
    p->role = c->my_role;
    return 0;
}

/* Newest first: stop at the first one at or before since. Ids follow the
 * log, times the leader's clock at each request, so only announcements
 * posted concurrently within a moment of since could be out of order. */
static int announcement_each(void *arg, const announcement *a)
{
    collect *x = arg;
    if (a->created <= x->since)
        return 1;
    if (!in_window(x, a->created))
        return 0;
    inbox_item *it = add(x, INBOX_ANNOUNCEMENT, a->created, a->id, a->course, a->author);
    if (!it)
        return 1;
    char text[EXCERPT_MAX + 4], title[EXCERPT_MAX + 4];
    excerpt(text, sizeof text, a->text);
    if (a->title[0]) {
        excerpt(title, sizeof title, a->title);
        snprintf(it->summary, sizeof it->summary, "%s: %s", title, text);
    } else {
        snprintf(it->summary, sizeof it->summary, "%s", text);
    }
    return 0;
}

static int assignment_each(void *arg, const void *row)
{
    collect *x = arg;
    const lms_assignment *a = row;
    asg_seen *e = push(x, &x->asgs, sizeof *e);
    if (!e)
        return 1;
    e->id = a->id;
    copy(e->course, sizeof e->course, a->course);
    copy(e->title, sizeof e->title, a->title);
    copy(e->by, sizeof e->by, a->created_by);
    e->due = a->due;
    e->created = a->created;
    return 0;
}

/* The assignment id of a course the user takes, NULL if none (or gone). */
static const asg_seen *asg_find(const collect *x, uint64_t id)
{
    const asg_seen *e = x->asgs.v;
    for (size_t i = 0; i < x->asgs.n; i++)
        if (e[i].id == id && !e[i].state.deleted)
            return &e[i];
    return NULL;
}

/* Add word (of a change's list, "due") to list unless it is there. */
static void add_word(char *list, size_t cap, const char *word, size_t n)
{
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] ? 2 : 0))
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return;
    size_t len = strlen(list);
    if (len + n + 3 > cap)
        return;
    snprintf(list + len, cap - len, "%s%.*s", len ? ", " : "", (int)n, word);
}

/* The changes of e in the window, as one item at the newest of them:
 * what changed in any of them ("due, max-points"), or that it is shown
 * again. A change that hid it is not news to a student. */
static int add_changes(collect *x, const asg_seen *e)
{
    char fields[4 * ASG_CHANGED_MAX] = "", title[EXCERPT_MAX + 4], due[40];
    const asg_edit *last = NULL;
    int shown_again = 0;
    for (size_t i = 0; i < e->state.n_history; i++) {
        const asg_edit *h = &e->state.history[i];
        if (!in_window(x, h->at) || strcmp(h->changed, "hidden") == 0)
            continue;
        last = h;
        for (const char *p = h->changed; *p;) {
            size_t n = strcspn(p, ",");
            if (n == strlen("unhidden") && strncmp(p, "unhidden", n) == 0)
                shown_again = 1;
            else if (n)
                add_word(fields, sizeof fields, p, n);
            p += n;
            p += strspn(p, ", ");
        }
    }
    if (!last)
        return LMS_OK;
    inbox_item *it = add(x, INBOX_ASSIGNMENT, last->at, e->id, e->course, last->by);
    if (!it)
        return x->rc;
    excerpt(title, sizeof title, e->title);
    int w;
    if (fields[0])
        w = snprintf(it->summary, sizeof it->summary, "assignment \"%s\" changed: %s%s",
                     title, fields, shown_again ? "; shown again" : "");
    else
        w = snprintf(it->summary, sizeof it->summary,
                     "assignment \"%s\" is shown again, due %s", title, rule_iso_time(e->due, due, sizeof due));
    if (w >= (int)sizeof it->summary) /* a one-line summary: cut, never overrun */
        utf8_repair(it->summary, strlen(it->summary)); /* no half character */
    return LMS_OK;
}

/* The assignments of the courses the user takes: a new one (as it is
 * now), or the changes of an older one; none that is hidden from its
 * students or deleted. */
static int add_assignments(collect *x)
{
    asg_seen *e = x->asgs.v;
    for (size_t i = 0; i < x->asgs.n; i++) {
        int rc = asg_get(x->ops, x->st, e[i].id, &e[i].state, x->err);
        if (rc != LMS_OK)
            return rc;
        if (e[i].state.deleted || e[i].state.hidden)
            continue;
        if (!in_window(x, e[i].created)) {
            if ((rc = add_changes(x, &e[i])) != LMS_OK)
                return rc;
            continue;
        }
        inbox_item *it = add(x, INBOX_ASSIGNMENT, e[i].created, e[i].id, e[i].course, e[i].by);
        if (!it)
            return x->rc;
        char title[EXCERPT_MAX + 4], due[40];
        excerpt(title, sizeof title, e[i].title);
        snprintf(it->summary, sizeof it->summary, "new assignment \"%s\", due %s", title,
                 rule_iso_time(e[i].due, due, sizeof due));
    }
    return LMS_OK;
}

static int grade_each(void *arg, const void *row)
{
    collect *x = arg;
    const lms_grade_view *v = row;
    const lms_assignment *a = v->assignment;
    int held = a->hold_grades != 0;
    if (role_in(x, a->course) != LMS_ROLE_STUDENT || (held && !a->released))
        return 0;
    if (!held && !in_window(x, v->grade->graded))
        return 0;
    grade_seen *g = push(x, &x->grades, sizeof *g);
    if (!g)
        return 1;
    g->sid = v->submission->id;
    g->aid = a->id;
    copy(g->course, sizeof g->course, a->course);
    copy(g->title, sizeof g->title, a->title);
    copy(g->grader, sizeof g->grader, v->grade->grader);
    g->grade = v->grade->grade;
    g->max_points = a->max_points;
    g->attempt = v->submission->attempt;
    g->graded = v->grade->graded;
    g->submitted = v->submission->submitted;
    g->due = a->due;
    g->held = held;
    return 0;
}

/* The points a late penalty takes off grade g (rule_late_deduction), as
 * `grades` shows them: by the due time as it is now, moved by the user's
 * extension. *days: started days late. */
static int penalty_of(collect *x, const grade_seen *g, uint32_t *days, double *minus)
{
    const asg_seen *e = asg_find(x, g->aid);
    lms_extension ext;
    int64_t until = 0, due, cutoff;
    *days = 0;
    *minus = 0;
    if (!e || e->state.late_penalty == 0 || g->submitted <= g->due)
        return LMS_OK;
    int rc = x->ops->extension_get(x->st, g->aid, x->user, &ext, x->err);
    if (rc == LMS_OK)
        until = ext.until;
    else if (rc != LMS_NOT_FOUND)
        return rc;
    rule_effective_times(g->due, 0, until, &due, &cutoff);
    *days = rule_days_late(g->submitted, due);
    *minus = rule_late_deduction(g->grade, g->max_points, e->state.late_penalty, *days);
    return LMS_OK;
}

static void grade_summary(inbox_item *it, const grade_seen *g, uint32_t days, double minus)
{
    char title[EXCERPT_MAX + 4], late[96] = "";
    excerpt(title, sizeof title, g->title);
    if (minus > 0)
        snprintf(late, sizeof late, " (%.10g, %" PRIu32 " day%s late: -%.10g)", g->grade,
                 days, days == 1 ? "" : "s", minus);
    snprintf(it->summary, sizeof it->summary,
             "grade %.10g/%.10g%s for \"%s\" (attempt %" PRIu32 ")", g->grade - minus,
             g->max_points, late, title, g->attempt);
}

/* A held grade is seen from the later of its grading and its release (a
 * release noted before this record existed: its grading). */
static int add_grades(collect *x)
{
    const grade_seen *g = x->grades.v;
    for (size_t i = 0; i < x->grades.n; i++) {
        int64_t t = g[i].graded;
        if (g[i].held) {
            char key[KEY_CAP];
            Lms__InboxEventRecord *e;
            key_of(key, RELEASED_PREFIX, "", "", g[i].aid);
            int rc = get_event(x->ops, x->st, key, &e, x->err);
            if (rc != LMS_OK)
                return rc;
            if (e && e->time > t)
                t = e->time;
            if (e)
                lms__inbox_event_record__free_unpacked(e, NULL);
        }
        if (!in_window(x, t))
            continue;
        uint32_t days;
        double minus;
        int rc = penalty_of(x, &g[i], &days, &minus);
        if (rc != LMS_OK)
            return rc;
        inbox_item *it = add(x, INBOX_GRADE, t, g[i].sid, g[i].course, g[i].grader);
        if (!it)
            return x->rc;
        grade_summary(it, &g[i], days, minus);
    }
    return LMS_OK;
}

static int query_each(void *arg, const void *row)
{
    collect *x = arg;
    const lms_query *q = row;
    if (q->kind != LMS_QUERY_INSTRUCTOR || role_in(x, q->course) == LMS_ROLE_NONE)
        return 0;
    query_seen *s = push(x, &x->queries, sizeof *s);
    if (!s)
        return 1;
    s->id = q->id;
    copy(s->course, sizeof s->course, q->course);
    copy(s->title, sizeof s->title, q->title);
    return 0;
}

typedef struct reply_walk {
    collect *x;
    const query_seen *q;
} reply_walk;

static int reply_each(void *arg, const void *row)
{
    reply_walk *w = arg;
    collect *x = w->x;
    const lms_reply *r = row;
    if (strcmp(r->author, x->user) == 0 || !in_window(x, r->created))
        return 0;
    inbox_item *it = add(x, INBOX_REPLY, r->created, w->q->id, w->q->course, r->author);
    if (!it)
        return 1;
    char title[EXCERPT_MAX + 4], text[EXCERPT_MAX + 4];
    excerpt(title, sizeof title, w->q->title);
    excerpt(text, sizeof text, r->text);
    snprintf(it->summary, sizeof it->summary, "%s replied to \"%s\": %s", r->author, title,
             text);
    return 0;
}

static int ext_each(void *arg, const lms_record *r)
{
    collect *x = arg;
    uint64_t aid = 0;
    if ((x->rc = id_of_key(r->key, strlen(r->key) - ID_DIGITS, &aid, x->err)) != LMS_OK)
        return 1;
    Lms__InboxEventRecord *m = lms__inbox_event_record__unpack(NULL, r->len, r->value);
    if (!m) {
        x->rc = lms_err_set(x->err, LMS_INTERNAL, "the stored record %s does not decode",
                            r->key);
        return 1;
    }
    ext_seen *e = in_window(x, m->time) ? push(x, &x->exts, sizeof *e) : NULL;
    if (e) {
        e->aid = aid;
        e->time = m->time;
        e->until = m->until;
        copy(e->by, sizeof e->by, m->by);
    }
    lms__inbox_event_record__free_unpacked(m, NULL);
    return x->rc != LMS_OK;
}

/* Extensions of assignments the user still sees (not hidden, not
 * deleted, of a course they take). */
static int add_extensions(collect *x)
{
    const ext_seen *e = x->exts.v;
    for (size_t i = 0; i < x->exts.n; i++) {
        const asg_seen *a = asg_find(x, e[i].aid);
        if (!a || a->state.hidden)
            continue;
        inbox_item *it = add(x, INBOX_EXTENSION, e[i].time, a->id, a->course, e[i].by);
        if (!it)
            return x->rc;
        char title[EXCERPT_MAX + 4], until[40];
        excerpt(title, sizeof title, a->title);
        snprintf(it->summary, sizeof it->summary, "extension of \"%s\" until %s", title,
                 rule_iso_time(e[i].until, until, sizeof until));
    }
    return LMS_OK;
}

/* A list call's status, or the failure its walk recorded. */
static int walked(collect *x, int rc) { return rc != LMS_OK ? rc : x->rc; }

static int collect_courses(collect *x)
{
    const course_part *c;
    int rc = walked(x, x->ops->course_list(x->st, x->user, course_each, x, x->err));
    for (size_t i = 0; rc == LMS_OK && i < x->courses.n; i++) {
        c = (const course_part *)x->courses.v + i;
        rc = walked(x, announcement_list(x->ops, x->st, c->code, 0, announcement_each, x,
                                         x->err));
        if (rc == LMS_OK && c->role == LMS_ROLE_STUDENT)
            rc = walked(x, x->ops->assignment_list(x->st, c->code, assignment_each, x,
                                                   x->err));
    }
    return rc != LMS_OK ? rc : add_assignments(x);
}

static int collect_replies(collect *x)
{
    int rc = walked(x, x->ops->query_list(x->st, NULL, x->user, query_each, x, x->err));
    for (size_t i = 0; rc == LMS_OK && i < x->queries.n; i++) {
        reply_walk w = {x, (const query_seen *)x->queries.v + i};
        rc = walked(x, x->ops->reply_list(x->st, w.q->id, reply_each, &w, x->err));
    }
    return rc;
}

static int collect_extensions(collect *x)
{
    char prefix[KEY_CAP];
    snprintf(prefix, sizeof prefix, INBOX_KEY_PREFIX "%s" EXT_PART, x->user);
    int rc = walked(x, x->ops->record_list(x->st, prefix, NULL, 0, ext_each, x, x->err));
    return rc != LMS_OK ? rc : add_extensions(x);
}

static int newest_first(const void *pa, const void *pb)
{
    const inbox_item *a = pa, *b = pb;
    if (a->time != b->time)
        return a->time > b->time ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->id > b->id ? -1 : a->id < b->id;
}

int inbox_collect(const struct lms_storage_ops *ops, void *st, const char *user,
                  int64_t since, int64_t until, size_t max, inbox_page *out,
                  lms_err *err)
{
    LMS_ASSERT(max > 0);
    memset(out, 0, sizeof *out);
    if (name_ok("a user name", user, err) != LMS_OK)
        return err->code;
    collect x = {.ops = ops, .st = st, .user = user, .since = since, .until = until,
                 .err = err, .rc = LMS_OK};
    int rc = collect_courses(&x);
    if (rc == LMS_OK)
        rc = walked(&x, ops->grade_list(st, NULL, user, grade_each, &x, err));
    if (rc == LMS_OK)
        rc = add_grades(&x);
    if (rc == LMS_OK)
        rc = collect_replies(&x);
    if (rc == LMS_OK)
        rc = collect_extensions(&x);
    free(x.courses.v);
    free(x.asgs.v);
    free(x.grades.v);
    free(x.queries.v);
    free(x.exts.v);
    out->items = x.items.v;
    if (rc != LMS_OK)
        return rc;
    if (x.items.n > 1)
        qsort(x.items.v, x.items.n, sizeof(inbox_item), newest_first);
    out->n = x.items.n < max ? x.items.n : max;
    out->more = x.items.n - out->n;
    for (size_t i = 1; i < out->n; i++)
        LMS_ASSERT(out->items[i - 1].time >= out->items[i].time);
    return LMS_OK;
}

void inbox_page_free(inbox_page *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}
