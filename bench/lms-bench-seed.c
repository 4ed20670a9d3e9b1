/* SPDX-License-Identifier: MIT */
/*
 * lms-bench-seed: put the benchmark's fixture into a fresh node over the
 * client protocol, for when the CLIs (lms-admin, lms-instructor,
 * lms-student) are not built. bench/run prefers the real CLIs.
 *
 *   lms-bench-seed -s 127.0.0.1:PORT --password-file F
 *
 * Logs in as the admin (created with lmsd --init-admin, same password),
 * adds an instructor and a student (same password), a course, both
 * enrolments, an assignment (10 points, unlimited attempts, due in 30
 * days) and one submission by the student, then prints
 *
 *   assignment=ID
 *   submission=ID
 */
#include "frame.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static bench_addr addr;
static uint64_t client_id, seq;
static bench_buf sb, rb;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* One request; NULL (after a message) unless the answer is OK. */
static Lms__Response *call(int fd, Lms__Request *req, const char *token, const char *what)
{
    req->id = ++seq;
    req->token = (char *)token;
    req->client_id = client_id;
    req->seq = seq;
    Lms__Response *resp = NULL;
    int rc = bench_call(fd, req, &sb, &rb, &resp);
    if (rc != BENCH_OK) {
        fprintf(stderr, "lms-bench-seed: %s: %s (%s)\n", what, bench_rc_name(rc),
                strerror(errno));
        return NULL;
    }
    if (resp->status != LMS__STATUS__OK) {
        char buf[32];
        fprintf(stderr, "lms-bench-seed: %s: %s: %s\n", what,
                bench_status_name(resp->status, buf, sizeof buf), resp->message);
        lms__response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

static int ok(Lms__Response *resp)
{
    if (!resp)
        return -1;
    lms__response__free_unpacked(resp, NULL);
    return 0;
}

static int add_user(int fd, const char *tok, const char *name, Lms__Role role, const char *pw)
{
    Lms__AddUserRequest b = LMS__ADD_USER_REQUEST__INIT;
    b.name = (char *)name;
    b.role = role;
    b.full_name = (char *)name;
    b.password = (char *)pw;
    Lms__Request req = LMS__REQUEST__INIT;
    req.body_case = LMS__REQUEST__BODY_ADD_USER;
    req.add_user = &b;
    return ok(call(fd, &req, tok, "add-user"));
}

static int enroll(int fd, const char *tok, const char *course, const char *user, Lms__Role role)
{
    Lms__EnrollRequest b = LMS__ENROLL_REQUEST__INIT;
    b.course = (char *)course;
    b.user = (char *)user;
    b.role = role;
    Lms__Request req = LMS__REQUEST__INIT;
    req.body_case = LMS__REQUEST__BODY_ENROLL;
    req.enroll = &b;
    return ok(call(fd, &req, tok, "enroll"));
}

static char *login(int fd, const char *name, const char *pw)
{
    char err[256], *tok = NULL;
    if (bench_login(fd, name, pw, client_id, &seq, &tok, err, sizeof err) < 0) {
        fprintf(stderr, "lms-bench-seed: %s\n", err);
        return NULL;
    }
    return tok;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"server", required_argument, NULL, 's'},
        {"password-file", required_argument, NULL, 'p'},
        {"admin", required_argument, NULL, 'a'},
        {"instructor", required_argument, NULL, 'i'},
        {"student", required_argument, NULL, 'u'},
        {"course", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *server = "127.0.0.1:7400", *pwfile = NULL, *admin = "admin",
               *instructor = "prof", *student = "alice", *course = "CS101";
    int ch;
    while ((ch = getopt_long(argc, argv, "s:", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': server = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'a': admin = optarg; break;
        case 'i': instructor = optarg; break;
        case 'u': student = optarg; break;
        case 'C': course = optarg; break;
        default:
            fprintf(stderr, "usage: lms-bench-seed [-s HOST:PORT] --password-file F "
                            "[--admin N] [--instructor N] [--student N] [--course C]\n");
            return 2;
        }
    }
    if (!pwfile || optind < argc) {
        fprintf(stderr, "lms-bench-seed: --password-file is required\n");
        return 2;
    }
    char err[256], pw[256];
    FILE *f = fopen(pwfile, "r");
    if (!f || !fgets(pw, sizeof pw, f)) {
        fprintf(stderr, "lms-bench-seed: cannot read %s\n", pwfile);
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    if (bench_resolve(server, &addr, err, sizeof err) < 0) {
        fprintf(stderr, "lms-bench-seed: %s\n", err);
        return 2;
    }
    int fd = bench_connect(&addr, 10000, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "lms-bench-seed: %s\n", err);
        return 1;
    }
    client_id = bench_random_u64();
    int rc = 1;
    char *atok = NULL, *itok = NULL, *stok = NULL;
    Lms__Response *resp;
    uint64_t assignment = 0, submission = 0;

    if (!(atok = login(fd, admin, pw)) ||
        add_user(fd, atok, instructor, LMS__ROLE__INSTRUCTOR, pw) < 0 ||
        add_user(fd, atok, student, LMS__ROLE__STUDENT, pw) < 0)
        goto out;
    Lms__CreateCourseRequest cc = LMS__CREATE_COURSE_REQUEST__INIT;
    cc.code = (char *)course;
    cc.title = (char *)"Benchmark course";
    Lms__Request req = LMS__REQUEST__INIT;
    req.body_case = LMS__REQUEST__BODY_CREATE_COURSE;
    req.create_course = &cc;
    if (ok(call(fd, &req, atok, "create-course")) < 0 ||
        enroll(fd, atok, course, instructor, LMS__ROLE__INSTRUCTOR) < 0 ||
        enroll(fd, atok, course, student, LMS__ROLE__STUDENT) < 0)
        goto out;

    if (!(itok = login(fd, instructor, pw)))
        goto out;
    Lms__CreateAssignmentRequest ca = LMS__CREATE_ASSIGNMENT_REQUEST__INIT;
    ca.course = (char *)course;
    ca.title = (char *)"Benchmark exercise";
    ca.description = (char *)"Hand in anything.";
    ca.due = now_ms() + 30LL * 24 * 3600 * 1000;
    ca.max_points = 10;
    ca.max_attempts = 0;
    ca.max_size = 1024 * 1024;
    lms__request__init(&req);
    req.body_case = LMS__REQUEST__BODY_CREATE_ASSIGNMENT;
    req.create_assignment = &ca;
    if (!(resp = call(fd, &req, itok, "create-assignment")))
        goto out;
    if (resp->body_case == LMS__RESPONSE__BODY_ASSIGNMENT)
        assignment = resp->assignment->id;
    lms__response__free_unpacked(resp, NULL);

    if (!(stok = login(fd, student, pw)))
        goto out;
    static const char file[] = "print(\"Hello, world\")\n";
    Lms__SubmitRequest su = LMS__SUBMIT_REQUEST__INIT;
    su.assignment_id = assignment;
    su.file_name = (char *)"hello.py";
    su.data.data = (uint8_t *)file;
    su.data.len = sizeof file - 1;
    lms__request__init(&req);
    req.body_case = LMS__REQUEST__BODY_SUBMIT;
    req.submit = &su;
    if (!(resp = call(fd, &req, stok, "submit")))
        goto out;
    if (resp->body_case == LMS__RESPONSE__BODY_SUBMISSION)
        submission = resp->submission->id;
    lms__response__free_unpacked(resp, NULL);
    if (!assignment || !submission) {
        fprintf(stderr, "lms-bench-seed: the server did not return the new ids\n");
        goto out;
    }
    printf("assignment=%llu\nsubmission=%llu\n", (unsigned long long)assignment,
           (unsigned long long)submission);
    rc = 0;
out:
    explicit_bzero(pw, sizeof pw);
    free(atok);
    free(itok);
    free(stok);
    bench_buf_free(&sb);
    bench_buf_free(&rb);
    bench_close(fd);
    return rc;
}
