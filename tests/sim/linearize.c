/* SPDX-License-Identifier: MIT */
/*
 * linearize.c: is a history of one register linearizable? The
 * Wing & Gong search with Lowe's memoization (the algorithm Porcupine
 * uses): walk the calls and returns in time order; try to linearize each
 * pending call against the model; at a return whose call is not yet
 * linearized, backtrack. A cache of (set of linearized ops, register
 * value) prunes states already explored. Operations whose outcome is
 * unknown (the client timed out) return at infinity: they may take
 * effect at any time after their call, or never.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LIMIT (1u << 21)

typedef struct lin_ev {
    sim_time t;
    int call;    /* 1: call, 0: return */
    size_t op;   /* index into the key's ops */
    size_t match;/* the other event of the op */
    size_t prev, next;
} lin_ev;

typedef struct cache {
    uint64_t *keys; /* words per entry: nw bitset words + 1 state word */
    uint8_t *used;
    size_t cap, n, nw;
} cache;

static uint64_t hash_words(const uint64_t *w, size_t n)
{
    uint64_t h = 0x84222325cbf29ce4ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 31;
    }
    return h;
}

static int cache_grow(cache *c)
{
    size_t old = c->cap, w = c->nw + 1;
    uint64_t *keys = c->keys;
    uint8_t *used = c->used;
    c->cap = old ? old * 2 : 1024;
    c->keys = calloc(c->cap * w, sizeof *c->keys);
    c->used = calloc(c->cap, 1);
    if (!c->keys || !c->used)
        return -1;
    for (size_t k = 0; k < old; k++) {
        if (!used[k])
            continue;
        size_t j = hash_words(&keys[k * w], w) & (c->cap - 1);
        while (c->used[j])
            j = (j + 1) & (c->cap - 1);
        c->used[j] = 1;
        memcpy(&c->keys[j * w], &keys[k * w], w * sizeof *keys);
    }
    free(keys);
    free(used);
    return 0;
}

/* Insert (bits, state): 1 if new, 0 if seen, -1 if full. */
static int cache_add(cache *c, const uint64_t *bits, uint64_t state)
{
    size_t w = c->nw + 1;
    if (2 * (c->n + 1) > c->cap) {
        if (c->n >= CACHE_LIMIT || cache_grow(c))
            return -1;
    }
    uint64_t key[w];
    memcpy(key, bits, c->nw * sizeof *key);
    key[c->nw] = state;
    size_t j = hash_words(key, w) & (c->cap - 1);
    for (; c->used[j]; j = (j + 1) & (c->cap - 1))
        if (!memcmp(&c->keys[j * w], key, w * sizeof *key))
            return 0;
    c->used[j] = 1;
    memcpy(&c->keys[j * w], key, w * sizeof *key);
    c->n++;
    return 1;
}

static int ev_cmp(const void *a, const void *b)
{
    const lin_ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return y->call - x->call; /* calls first: equal times overlap */
}

/* Events in time order, linked, with a sentinel at index n. */
static lin_ev *build_events(const hist_op **ops, size_t n)
{
    lin_ev *ev = calloc(2 * n + 1, sizeof *ev);
    for (size_t i = 0; i < n; i++) {
        ev[2 * i] = (lin_ev){ops[i]->call, 1, i, 0, 0, 0};
        ev[2 * i + 1] = (lin_ev){ops[i]->ret, 0, i, 0, 0, 0};
    }
    qsort(ev, 2 * n, sizeof *ev, ev_cmp);
    size_t *call_at = calloc(n, sizeof *call_at);
    for (size_t i = 0; i < 2 * n; i++)
        if (ev[i].call)
            call_at[ev[i].op] = i;
    for (size_t i = 0; i < 2 * n; i++)
        if (!ev[i].call) {
            ev[i].match = call_at[ev[i].op];
            ev[call_at[ev[i].op]].match = i;
        }
    free(call_at);
    size_t head = 2 * n, end = SIZE_MAX;
    ev[head].next = n ? 0 : end;
    for (size_t i = 0; i < 2 * n; i++) {
        ev[i].prev = i ? i - 1 : head;
        ev[i].next = i + 1 < 2 * n ? i + 1 : end;
    }
    return ev;
}

static void unlink_ev(lin_ev *ev, size_t i)
{
    ev[ev[i].prev].next = ev[i].next;
    if (ev[i].next != SIZE_MAX)
        ev[ev[i].next].prev = ev[i].prev;
}

static void relink_ev(lin_ev *ev, size_t i)
{
    ev[ev[i].prev].next = i;
    if (ev[i].next != SIZE_MAX)
        ev[ev[i].next].prev = i;
}

static int model_step(const hist_op *op, uint64_t state, uint64_t *next)
{
    if (op->kind == H_PUT) {
        *next = op->value;
        return 1;
    }
    *next = state;
    return op->value == state;
}

typedef struct frame {
    size_t ev;
    uint64_t state;
} frame;

static int search(const hist_op **ops, size_t n, lin_ev *ev, size_t *stuck)
{
    size_t head = 2 * n, nw = n / 64 + 1;
    cache c = {0};
    c.nw = nw;
    uint64_t *bits = calloc(nw, sizeof *bits);
    frame *stack = calloc(n + 1, sizeof *stack);
    size_t depth = 0, e = ev[head].next;
    uint64_t state = 0;
    int result = 0;
    while (ev[head].next != SIZE_MAX) {
        if (ev[e].call) {
            size_t op = ev[e].op;
            uint64_t next;
            int ok = model_step(ops[op], state, &next);
            if (ok) {
                bits[op / 64] |= 1ULL << (op % 64);
                int fresh = cache_add(&c, bits, next);
                if (fresh < 0) {
                    result = -1;
                    break;
                }
                if (fresh) {
                    stack[depth++] = (frame){e, state};
                    state = next;
                    unlink_ev(ev, e);
                    unlink_ev(ev, ev[e].match);
                    e = ev[head].next;
                    continue;
                }
                bits[op / 64] &= ~(1ULL << (op % 64));
            }
            e = ev[e].next;
        } else {
            if (!depth) {
                *stuck = ev[e].op;
                result = 1;
                break;
            }
            frame f = stack[--depth];
            state = f.state;
            size_t op = ev[f.ev].op;
            bits[op / 64] &= ~(1ULL << (op % 64));
            relink_ev(ev, ev[f.ev].match);
            relink_ev(ev, f.ev);
            e = ev[f.ev].next;
        }
    }
    free(bits);
    free(stack);
    free(c.keys);
    free(c.used);
    return result;
}

int linearizable(const hist_op *all, size_t n_all, int key, char *why,
                 size_t why_len)
{
    const hist_op **ops = calloc(n_all + 1, sizeof *ops);
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++)
        if (all[i].key == key && !all[i].dropped)
            ops[n++] = &all[i];
    lin_ev *ev = build_events(ops, n);
    size_t stuck = 0;
    int rc = search(ops, n, ev, &stuck);
    if (rc > 0) {
        const hist_op *o = ops[stuck];
        snprintf(why, why_len,
                 "%zu ops, none order fits; blocked at client %d %s = %" PRIu64
                 " [%.3f, %.3f] ms",
                 n, o->client, o->kind == H_PUT ? "put" : "get", o->value,
                 (double)o->call / 1000.0,
                 o->ret == SIM_INF ? -1.0 : (double)o->ret / 1000.0);
    }
    free(ev);
    free(ops);
    return rc;
}
