/* SPDX-License-Identifier: MIT */
/*
 * openai_http.c: libcurl's multi interface driven by the host's libevent
 * loop. curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION); libevent tells curl when a
 * socket is ready or the timer is due (curl_multi_socket_action). No thread
 * per request, and nothing here ever waits: DNS runs in curl's resolver
 * thread, everything else is non-blocking sockets.
 *
 * curl's callbacks only arm and disarm events; they never call back into
 * curl, which forbids that. Transfers that end are reported to
 * openai_request.c (oai_request_ended) from our own event callbacks, where
 * removing and adding easy handles is allowed.
 */
#include "openai.h"

#include <event2/event.h>
#include <stdlib.h>

/* A socket curl asked us to watch. */
typedef struct oai_socket {
    struct oai_socket *next;
    oai_instance *in;
    curl_socket_t fd;
    struct event *ev;
} oai_socket;

/* Hand every finished transfer to its request. */
static void drain(oai_instance *in)
{
    CURLMsg *m;
    int left;
    while (!in->dying && (m = curl_multi_info_read(in->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            oai_request_ended(m->easy_handle, m->data.result);
}

static void act(oai_instance *in, curl_socket_t fd, int what)
{
    int running;
    oai_enter(in);
    CURLMcode mc = curl_multi_socket_action(in->multi, fd, what, &running);
    if (mc != CURLM_OK)
        oai_log(in, LMS_LOG_ERROR, "curl_multi_socket_action: %s",
                curl_multi_strerror(mc));
    drain(in);
    oai_leave(in);
}

static void on_socket_ready(evutil_socket_t fd, short events, void *arg)
{
    oai_socket *s = arg;
    act(s->in, fd,
        (events & EV_READ ? CURL_CSELECT_IN : 0) |
            (events & EV_WRITE ? CURL_CSELECT_OUT : 0));
}

static void on_curl_timer(evutil_socket_t fd, short events, void *arg)
{
    act(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void socket_forget(oai_instance *in, oai_socket *s)
{
    for (oai_socket **pp = &in->sockets; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    event_free(s->ev);
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what (CURL_POLL_*). */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
                          void *sockp)
{
    oai_instance *in = arg;
    oai_socket *s = sockp;
    if (what == CURL_POLL_REMOVE) { /* curl drops its own record of s */
        if (s)
            socket_forget(in, s);
        return 0;
    }
    short events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                   (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        s->in = in;
        s->fd = fd;
        s->next = in->sockets;
        in->sockets = s;
        curl_multi_assign(in->multi, fd, s);
    } else {
        event_free(s->ev);
    }
    s->ev = event_new(in->base, fd, events, on_socket_ready, s);
    if (!s->ev || event_add(s->ev, NULL) < 0) {
        curl_multi_assign(in->multi, fd, NULL);
        socket_forget(in, s);
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: call curl back in ms (-1: never). */
static int on_curl_timer_change(CURLM *multi, long ms, void *arg)
{
    oai_instance *in = arg;
    if (ms < 0)
        return event_del(in->curl_timer) < 0 ? -1 : 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return event_add(in->curl_timer, &tv) < 0 ? -1 : 0;
}

int oai_http_init(oai_instance *in, lms_err *err)
{
    in->curl_timer = evtimer_new(in->base, on_curl_timer, in);
    in->multi = curl_multi_init();
    if (!in->curl_timer || !in->multi)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_openai: cannot set up libcurl (out of "
                           "memory)");
    curl_multi_setopt(in->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(in->multi, CURLMOPT_SOCKETDATA, in);
    curl_multi_setopt(in->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer_change);
    curl_multi_setopt(in->multi, CURLMOPT_TIMERDATA, in);
    return LMS_OK;
}

void oai_http_free(oai_instance *in)
{
    if (in->multi)
        curl_multi_cleanup(in->multi); /* may still report sockets removed */
    in->multi = NULL;
    while (in->sockets)
        socket_forget(in, in->sockets);
    if (in->curl_timer)
        event_free(in->curl_timer);
    in->curl_timer = NULL;
}

int oai_http_add(oai_instance *in, CURL *easy)
{
    CURLMcode mc = curl_multi_add_handle(in->multi, easy);
    if (mc != CURLM_OK) {
        oai_log(in, LMS_LOG_ERROR, "curl_multi_add_handle: %s",
                curl_multi_strerror(mc));
        return -1;
    }
    return 0;
}

void oai_http_remove(oai_instance *in, CURL *easy)
{
    CURLMcode mc = curl_multi_remove_handle(in->multi, easy);
    if (mc != CURLM_OK)
        oai_log(in, LMS_LOG_ERROR, "curl_multi_remove_handle: %s",
                curl_multi_strerror(mc));
}
