/* SPDX-License-Identifier: MIT */
/*
 * handlers_inbox.c: announcements and the student's inbox (inbox.h).
 *
 * announce is a write that the course's instructors and admins may make
 * (rule_announcer); announcements lists a course's, newest first, for its
 * members. inbox is a read: the items come from inbox_collect, and
 * reading never moves the read mark. The client marks what it showed
 * with inbox-seen, a write of the newest time shown that only moves the
 * mark forward (apply_inbox_seen), so a retry, a lost answer or two
 * clients reading at once never lose an item: at worst one shows twice.
 */
#include "handlers.h"

#include "inbox.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ANN_PAGE 50    /* announcements per answer */
#define INBOX_PAGE 100 /* inbox items per answer */

/* ---- announcements ------------------------------------------------------ */

static Lms__Announcement *pb_announcement(req *r, const announcement *a)
{
    Lms__Announcement *m = req_alloc(r, sizeof *m);
    lms__announcement__init(m);
    m->id = a->id;
    m->course = req_strdup(r, a->course);
    m->author = req_strdup(r, a->author);
    m->title = req_strdup(r, a->title);
    m->text = req_strdup(r, a->text);
    m->created = a->created;
    return m;
}

static next_step announce_prepare(req *r)
{
    Lms__AnnounceRequest *q = r->msg->announce;
    int role;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    if (req_check_course(r, q->course, COURSE_EXISTS, NULL) < 0)
        return NEXT_RESPOND;
    if (req_course_role(r, q->course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (req_verdict(r, rule_announcer(r->who.role, role, q->course, why, sizeof why), why) <
            0 ||
        req_verdict_on(r, rule_text(&RULE_ANNOUNCEMENT_TITLE, q->title, why, sizeof why),
                       why, "new announcement in course %s", q->course) < 0 ||
        req_verdict_on(r, rule_text(&RULE_ANNOUNCEMENT, q->text, why, sizeof why), why,
                       "new announcement in course %s", q->course) < 0)
        return NEXT_RESPOND;
    Lms__CmdAnnounce *c = req_alloc(r, sizeof *c);
    lms__cmd_announce__init(c);
    c->course = q->course; /* the stored spelling (req_check_course) */
    c->title = q->title;
    c->text = q->text;
    r->cmd.body_case = LMS__COMMAND__BODY_ANNOUNCE;
    r->cmd.announce = c;
    return NEXT_PROPOSE;
}

static int answer_announcement(void *arg, const announcement *a)
{
    req *r = arg;
    r->resp.body_case = LMS__RESPONSE__BODY_ANNOUNCEMENT;
    r->resp.announcement = pb_announcement(r, a);
    return 1;
}

/* Also a retry answered from the client's record, before prepare ran: the
 * course may be spelled in another case than it is stored. */
static void announce_applied(req *r)
{
    lms_course co;
    lms_err err = {0};
    int rc = sm_course_find(req_ops(r), req_st(r), r->msg->announce->course, &co, &err);
    if (rc == LMS_OK)
        rc = announcement_get(req_ops(r), req_st(r), co.code, r->res.id,
                              answer_announcement, r, &err);
    req_read_back(r, rc, &err, "announcement", r->res.id);
}

/* A course's announcements, newest first, at most ANN_PAGE + 1 of them
 * (one more than a page says whether there are more). */
typedef struct ann_sink {
    req *r;
    ptr_vec *out;
    size_t taken;
} ann_sink;

static int keep_announcement(void *arg, const announcement *a)
{
    ann_sink *s = arg;
    ptr_vec_push(s->r, s->out, pb_announcement(s->r, a));
    return ++s->taken > ANN_PAGE;
}

static int by_id_desc(const void *pa, const void *pb)
{
    uint64_t a = (*(Lms__Announcement *const *)pa)->id;
    uint64_t b = (*(Lms__Announcement *const *)pb)->id;
    return a > b ? -1 : a < b;
}

static next_step list_announcements_prepare(req *r)
{
    Lms__ListAnnouncementsRequest *q = r->msg->list_announcements;
    ptr_vec codes = {0}, pv = {0};
    lms_err err = {0};
    if (q->course[0]) {
        if (req_check_course(r, q->course, COURSE_MEMBER, "read its announcements") < 0)
            return NEXT_RESPOND;
        ptr_vec_push(r, &codes, q->course);
    } else if (req_my_courses(r, COURSE_MEMBER, &codes) < 0) {
        return NEXT_RESPOND;
    }
    for (size_t i = 0; i < codes.n; i++) {
        ann_sink s = {r, &pv, 0};
        if (announcement_list(req_ops(r), req_st(r), codes.v[i], q->before,
                              keep_announcement, &s, &err) != LMS_OK)
            return req_storage_error(r, &err);
    }
    if (pv.n > 1)
        qsort(pv.v, pv.n, sizeof *pv.v, by_id_desc);
    Lms__AnnouncementsResponse *m = req_alloc(r, sizeof *m);
    lms__announcements_response__init(m);
    m->more = pv.n > ANN_PAGE;
    m->n_announcements = m->more ? ANN_PAGE : pv.n;
    m->announcements = (Lms__Announcement **)pv.v;
    r->resp.body_case = LMS__RESPONSE__BODY_ANNOUNCEMENTS;
    r->resp.announcements = m;
    return NEXT_RESPOND;
}

/* ---- the inbox ------------------------------------------------------------- */

static Lms__InboxItem *pb_item(req *r, const inbox_item *it, int64_t mark)
{
    Lms__InboxItem *m = req_alloc(r, sizeof *m);
    lms__inbox_item__init(m);
    m->time = it->time;
    m->course = req_strdup(r, it->course);
    m->kind = (char *)inbox_kind_name(it->kind);
    m->summary = req_strdup(r, it->summary);
    m->id = it->id;
    m->by = req_strdup(r, it->by);
    m->unread = it->time > mark;
    return m;
}

static next_step inbox_prepare(req *r)
{
    const Lms__InboxRequest *q = r->msg->inbox;
    const struct lms_storage_ops *ops = req_ops(r);
    char why[RULE_MSG_MAX];
    lms_err err = {0};
    int64_t mark;
    inbox_page page;
    if (req_verdict(r, rule_inbox_window(q->since, q->all, q->until, why, sizeof why), why) <
        0)
        return NEXT_RESPOND;
    if (inbox_mark_get(ops, req_st(r), r->who.name, &mark, &err) != LMS_OK)
        return req_storage_error(r, &err);
    int64_t since = q->all ? 0 : q->since ? q->since : mark;
    int rc = inbox_collect(ops, req_st(r), r->who.name, since, q->until, INBOX_PAGE, &page,
                           &err);
    if (rc != LMS_OK) {
        inbox_page_free(&page);
        return req_storage_error(r, &err);
    }
    Lms__InboxResponse *m = req_alloc(r, sizeof *m);
    lms__inbox_response__init(m);
    m->n_items = page.n;
    m->items = req_alloc(r, (page.n ? page.n : 1) * sizeof *m->items);
    for (size_t i = 0; i < page.n; i++)
        m->items[i] = pb_item(r, &page.items[i], mark);
    m->more = page.more > UINT32_MAX ? UINT32_MAX : (uint32_t)page.more;
    m->mark = mark;
    m->since = since;
    m->until = q->until;
    m->newest = page.n ? page.items[0].time : 0;
    inbox_page_free(&page);
    r->resp.body_case = LMS__RESPONSE__BODY_INBOX;
    r->resp.inbox = m;
    return NEXT_RESPOND;
}

static next_step inbox_seen_prepare(req *r)
{
    const Lms__InboxSeenRequest *q = r->msg->inbox_seen;
    char why[RULE_MSG_MAX];
    lms_err err = {0};
    int64_t mark;
    if (req_verdict(r, rule_inbox_mark(q->up_to, r->now, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    if (inbox_mark_get(req_ops(r), req_st(r), r->who.name, &mark, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (q->up_to <= mark)
        return NEXT_RESPOND; /* read that far already: nothing to write */
    Lms__CmdInboxSeen *c = req_alloc(r, sizeof *c);
    lms__cmd_inbox_seen__init(c);
    c->user = r->who.name;
    c->up_to = q->up_to;
    r->cmd.body_case = LMS__COMMAND__BODY_INBOX_SEEN;
    r->cmd.inbox_seen = c;
    return NEXT_PROPOSE;
}

#define B(x) LMS__REQUEST__BODY_##x
const handler handlers_inbox[] = {
    /* any role: rule_announcer decides, and tells a teaching assistant why */
    {.body = B(ANNOUNCE), .name = "announce", .roles = ROLES_ANY,
     .prepare = announce_prepare, .applied = announce_applied},
    {.body = B(LIST_ANNOUNCEMENTS), .name = "announcements", .roles = ROLES_ANY,
     .prepare = list_announcements_prepare},
    {.body = B(INBOX), .name = "inbox", .roles = ROLES_STUDENT, .prepare = inbox_prepare},
    {.body = B(INBOX_SEEN), .name = "inbox-seen", .roles = ROLES_STUDENT,
     .prepare = inbox_seen_prepare},
    {.name = NULL}, /* the end */
};
