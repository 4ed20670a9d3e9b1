/* SPDX-License-Identifier: MIT */
/* frame.c: see frame.h. */
#include "frame.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

void frame_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
        port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
        port = ntohs(s->sin6_port);
    }
    snprintf(buf, len, "%s:%d", host, port);
}

int frame_linger(struct bufferevent *bev)
{
    if (shutdown(bufferevent_getfd(bev), SHUT_WR) < 0)
        return -1;
    struct timeval t = {2, 0};
    struct evbuffer *in = bufferevent_get_input(bev);
    bufferevent_set_timeouts(bev, &t, NULL);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_enable(bev, EV_READ);
    return 0;
}
