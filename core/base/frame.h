/* SPDX-License-Identifier: MIT */
/*
 * frame.h: what the client port (net.c) and the peer port (peer.c) share:
 * the 4-byte big-endian length in front of every frame, and how a socket
 * peer is named in logs.
 */
#ifndef LMS_CORE_FRAME_H
#define LMS_CORE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER 4

static inline uint32_t frame_len_get(const uint8_t hdr[FRAME_HEADER])
{
    return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
           ((uint32_t)hdr[2] << 8) | hdr[3];
}

static inline void frame_len_put(uint8_t hdr[FRAME_HEADER], uint32_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

/*
 * The last answer on a connection is out: shut down our side and discard
 * input until the peer closes (the caller's read callback drains what
 * comes, and its event callback closes on EOF or after 2 s). Closing at
 * once, with unread input (the rest of a refused frame) in the socket,
 * would make the kernel send a reset that can destroy the answer before
 * the peer reads it. Both ports use it. 0, or -1 (close now).
 */
struct bufferevent;
int frame_linger(struct bufferevent *bev);

struct sockaddr;
/* "ip:port" of an IPv4 or IPv6 address ("?:0" for other families). */
void frame_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
