/* SPDX-License-Identifier: MIT */
/*
 * handlers_assignment.c: correcting assignments (edit-assignment,
 * hide-assignment, unhide-assignment, delete-assignment) and what an
 * assignment's record (assignments.h) adds to every read of assignments,
 * submissions and grades: a deleted assignment is not there, a hidden one
 * is its staff's only, and lateness and the late penalty are judged by the
 * due time as it is now, the student's extension included.
 *
 * Only the instructors of an assignment's course change it: its teaching
 * assistants change none of a course's settings, and admins, who stand
 * outside courses, do not either (they enrol an instructor who does).
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- reads -------------------------------------------------------------- */

int req_load_assignment(req *r, uint64_t id, lms_assignment *a, asg_state *x)
{
    lms_err err = {0};
    int rc = asg_load(req_ops(r), req_st(r), id, a, x, &err);
    return req_got(r, rc, &err, "assignment", id);
}

void pb_assignment_state(req *r, Lms__Assignment *m, const asg_state *x, int staff)
{
    m->late_penalty = x->late_penalty;
    m->hidden = x->hidden != 0;
    m->edited = x->n_history ? x->history[x->n_history - 1].at : 0;
    if (!staff || x->n_history == 0)
        return;
    m->edited_by = req_strdup(r, x->history[x->n_history - 1].by);
    m->edit_count = x->edit_count;
    m->n_edits = x->n_history;
    m->edits = req_alloc(r, x->n_history * sizeof *m->edits);
    for (size_t i = 0; i < x->n_history; i++) {
        Lms__AssignmentEdit *e = req_alloc(r, sizeof *e);
        lms__assignment_edit__init(e);
        e->at = x->history[i].at;
        e->by = req_strdup(r, x->history[i].by);
        e->changed = req_strdup(r, x->history[i].changed);
        m->edits[i] = e;
    }
}

/* Is the caller one of course's staff, as far as seeing its hidden
 * assignments and who changed them goes (an instructor or TA of it, or an
 * admin)? 0, or -1 answered. */
static int caller_is_staff(req *r, const char *course, int *staff)
{
    int role = LMS_ROLE_NONE;
    lms_err err = {0};
    *staff = r->who.role == LMS_ROLE_ADMIN;
    if (*staff)
        return 0;
    if (req_course_role(r, course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    *staff = rule_is_staff(role);
    return 0;
}

int req_assignments_visible(req *r, ptr_vec *pv)
{
    const char *course = NULL;
    int staff = 0;
    size_t kept = 0;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    for (size_t i = 0; i < pv->n; i++) {
        Lms__Assignment *m = pv->v[i];
        asg_state x;
        if ((!course || strcmp(course, m->course) != 0) &&
            caller_is_staff(r, course = m->course, &staff) < 0)
            return -1;
        if (asg_get(req_ops(r), req_st(r), m->id, &x, &err) != LMS_OK)
            return req_storage_error(r, &err), -1;
        if (x.deleted ||
            rule_assignment_visible(m->id, x.hidden, staff, why, sizeof why) != LMS_OK)
            continue; /* not an error: the list is what the caller may see */
        pb_assignment_state(r, m, &x, staff);
        pv->v[kept++] = m;
    }
    pv->n = kept;
    return 0;
}

int req_assignment_visible(req *r, Lms__Assignment *m, const asg_state *x)
{
    int staff;
    char why[RULE_MSG_MAX];
    if (caller_is_staff(r, m->course, &staff) < 0 ||
        req_verdict(r, rule_assignment_visible(m->id, x->hidden, staff, why, sizeof why),
                    why) < 0)
        return -1;
    pb_assignment_state(r, m, x, staff);
    return 0;
}

/* An assignment's times and penalty, kept while a request looks at many
 * submissions (few assignments, many students). */
typedef struct due_entry {
    uint64_t id;
    int64_t due;
    uint32_t late_penalty;
} due_entry;

struct late_cache {
    ptr_vec v; /* due_entry * */
};

static due_entry *due_of(req *r, late_cache *lc, uint64_t id, lms_err *err, int *rc)
{
    for (size_t i = 0; i < lc->v.n; i++)
        if (((due_entry *)lc->v.v[i])->id == id)
            return lc->v.v[i];
    asg_state x;
    lms_assignment a;
    due_entry *d = req_alloc(r, sizeof *d);
    d->id = id;
    d->due = INT64_MAX; /* an assignment that is gone makes nothing late */
    *rc = asg_get(req_ops(r), req_st(r), id, &x, err);
    if (*rc == LMS_OK)
        *rc = req_ops(r)->assignment_get(req_st(r), id, &a, err);
    if (*rc == LMS_NOT_FOUND)
        *rc = LMS_OK;
    else if (*rc == LMS_OK) {
        d->due = a.due;
        d->late_penalty = x.late_penalty;
    }
    if (*rc != LMS_OK)
        return NULL;
    ptr_vec_push(r, &lc->v, d);
    return d;
}

int req_days_late(req *r, uint64_t aid, int64_t due, const char *student, int64_t submitted,
                  uint32_t *days)
{
    lms_err err = {0};
    lms_extension ext;
    int64_t until = 0, my_due, my_cutoff;
    *days = 0;
    if (submitted <= due)
        return 0; /* on time whatever the extension: it only moves later */
    int rc = strlen(student) <= LMS_NAME_MAX
                 ? req_ops(r)->extension_get(req_st(r), aid, student, &ext, &err)
                 : LMS_NOT_FOUND;
    if (rc == LMS_OK)
        until = ext.until;
    else if (rc != LMS_NOT_FOUND)
        return req_storage_error(r, &err), -1;
    rule_effective_times(due, 0, until, &my_due, &my_cutoff);
    *days = rule_days_late(submitted, my_due);
    return 0;
}

int req_lateness(req *r, late_cache **lcp, uint64_t aid, const char *student,
                 int64_t submitted, lateness *out)
{
    lms_err err = {0};
    int rc = LMS_OK;
    if (!*lcp)
        *lcp = req_alloc(r, sizeof **lcp);
    due_entry *d = due_of(r, *lcp, aid, &err, &rc);
    if (!d)
        return req_storage_error(r, &err), -1;
    out->late_penalty = d->late_penalty;
    return req_days_late(r, aid, d->due, student, submitted, &out->days);
}

int req_fix_late(req *r, Lms__Submission *const *v, size_t n)
{
    late_cache *lc = NULL;
    for (size_t i = 0; i < n; i++) {
        lateness l;
        if (req_lateness(r, &lc, v[i]->assignment_id, v[i]->student, v[i]->submitted,
                         &l) < 0)
            return -1;
        v[i]->late = l.days > 0;
    }
    return 0;
}

void req_set_penalty(Lms__GradeEntry *g, const lateness *l)
{
    g->late_penalty = l->late_penalty;
    g->days_late = l->days;
    g->penalty = rule_late_deduction(g->grade, g->max_points, l->late_penalty, l->days);
    g->adjusted_grade = g->grade - g->penalty;
}

int req_grade_penalties(req *r, Lms__GradeEntry *const *v, size_t n)
{
    late_cache *lc = NULL;
    for (size_t i = 0; i < n; i++) {
        lateness l;
        if (req_lateness(r, &lc, v[i]->assignment_id, v[i]->student, v[i]->submitted,
                         &l) < 0)
            return -1;
        req_set_penalty(v[i], &l);
    }
    return 0;
}

/* ---- changes ------------------------------------------------------------ */

void req_answer_assignment(req *r, uint64_t id)
{
    lms_assignment a;
    asg_state x;
    lms_err err = {0};
    int rc = asg_load(req_ops(r), req_st(r), id, &a, &x, &err);
    if (req_read_back(r, rc, &err, "assignment", id) < 0)
        return;
    r->resp.body_case = LMS__RESPONSE__BODY_ASSIGNMENT;
    r->resp.assignment = pb_assignment(r, &a);
    pb_assignment_state(r, r->resp.assignment, &x, 1);
}

/* Load assignment id for a change by an instructor of its course (verb:
 * what for). 0, or -1 answered. */
static int load_own(req *r, uint64_t id, lms_assignment *a, asg_state *x, const char *verb)
{
    if (req_load_assignment(r, id, a, x) < 0)
        return -1;
    return req_check_course(r, a->course, COURSE_INSTRUCTOR, verb);
}

/* The edit's early check: what apply checks, on this reader's view
 * (rule_max_size too, a setting of this node that apply never sees). */
static next_step edit_assignment_prepare(req *r)
{
    Lms__EditAssignmentRequest *q = r->msg->edit_assignment;
    lms_assignment a;
    asg_state x;
    uint32_t above = 0;
    lms_err err = {0};
    char why[RULE_MSG_MAX], changed[ASG_CHANGED_MAX + 1];
    if (load_own(r, q->assignment_id, &a, &x, "edit its assignments") < 0)
        return NEXT_RESPOND;
    if (q->set_max_points && q->max_points < a.max_points &&
        asg_grades_above(req_ops(r), req_st(r), &a, q->max_points, &above, &err) != LMS_OK)
        return req_storage_error(r, &err);
    /* Load again: listing the grades invalidated a.description. */
    if (req_load_assignment(r, q->assignment_id, &a, NULL) < 0)
        return NEXT_RESPOND;
    unsigned given = asg_edit_apply(q, &a, &x, changed, sizeof changed);
    uint64_t id = a.id;
    int st = rule_edit_given(given, why, sizeof why);
    if (st == LMS_OK && q->set_title)
        st = rule_text(&RULE_ASSIGNMENT_TITLE, q->title, why, sizeof why);
    if (st == LMS_OK && q->set_description)
        st = rule_text(&RULE_DESCRIPTION, q->description, why, sizeof why);
    if (st == LMS_OK && q->set_max_size)
        st = rule_max_size(q->max_size, req_limits(r)->max_upload_bytes, why, sizeof why);
    if (st == LMS_OK)
        st = rule_assignment(&a, why, sizeof why);
    if (st == LMS_OK)
        st = rule_late_penalty(x.late_penalty, why, sizeof why);
    if (st == LMS_OK)
        st = rule_max_points_graded(a.max_points, above, why, sizeof why);
    /* prefixed as apply's refusals are */
    if (req_verdict_on(r, st, why, "assignment %" PRIu64, id) < 0)
        return NEXT_RESPOND;
    Lms__CmdEditAssignment *c = req_alloc(r, sizeof *c);
    lms__cmd_edit_assignment__init(c);
    c->e = q;
    r->cmd.body_case = LMS__COMMAND__BODY_EDIT_ASSIGNMENT;
    r->cmd.edit_assignment = c;
    return NEXT_PROPOSE;
}

static void edit_assignment_applied(req *r)
{
    req_answer_assignment(r, r->msg->edit_assignment->assignment_id);
}

static next_step hide_assignment_prepare(req *r)
{
    const Lms__HideAssignmentRequest *q = r->msg->hide_assignment;
    lms_assignment a;
    if (load_own(r, q->assignment_id, &a, NULL,
                 q->hidden ? "hide its assignments" : "unhide its assignments") < 0)
        return NEXT_RESPOND;
    Lms__CmdHideAssignment *c = req_alloc(r, sizeof *c);
    lms__cmd_hide_assignment__init(c);
    c->assignment_id = q->assignment_id;
    c->hidden = q->hidden;
    r->cmd.body_case = LMS__COMMAND__BODY_HIDE_ASSIGNMENT;
    r->cmd.hide_assignment = c;
    return NEXT_PROPOSE;
}

static void hide_assignment_applied(req *r)
{
    req_answer_assignment(r, r->msg->hide_assignment->assignment_id);
}

static next_step delete_assignment_prepare(req *r)
{
    uint64_t id = r->msg->delete_assignment->assignment_id;
    lms_assignment a;
    uint32_t n = 0;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    if (load_own(r, id, &a, NULL, "delete its assignments") < 0)
        return NEXT_RESPOND;
    if (req_ops(r)->submission_count(req_st(r), id, NULL, &n, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (req_verdict_on(r, rule_delete_assignment(id, n, why, sizeof why), why,
                       "assignment %" PRIu64, id) < 0)
        return NEXT_RESPOND;
    Lms__CmdDeleteAssignment *c = req_alloc(r, sizeof *c);
    lms__cmd_delete_assignment__init(c);
    c->assignment_id = id;
    r->cmd.body_case = LMS__COMMAND__BODY_DELETE_ASSIGNMENT;
    r->cmd.delete_assignment = c;
    return NEXT_PROPOSE;
}

#define B(x) LMS__REQUEST__BODY_##x
const handler handlers_assignment[] = {
    {.body = B(EDIT_ASSIGNMENT), .name = "edit-assignment", .roles = ROLES_INSTRUCTOR,
     .prepare = edit_assignment_prepare, .applied = edit_assignment_applied},
    {.body = B(HIDE_ASSIGNMENT), .name = "hide-assignment", .roles = ROLES_INSTRUCTOR,
     .prepare = hide_assignment_prepare, .applied = hide_assignment_applied},
    {.body = B(DELETE_ASSIGNMENT), .name = "delete-assignment", .roles = ROLES_INSTRUCTOR,
     .prepare = delete_assignment_prepare},
    {.name = NULL}, /* the end */
};
