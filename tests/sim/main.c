/* SPDX-License-Identifier: MIT */
/*
 * main.c: raft-sim, the simulator's command line.
 *
 *   raft-sim [--nodes N] [--seeds FIRST-LAST | --seeds A,B,.. | --seed S] [-v]
 *            [--chaos MS] [--heal MS] [--old-install-order] [--old-repair]
 *            [--no-repair] [--no-floor] [--keep-going]
 *
 * Runs every seed in the range (or the list) and stops at the first violation (with
 * --keep-going: goes on, and prints every one), printing the seed, the
 * property and the command that replays it with a trace.
 * Exit status: 0 all passed, 1 a violation, 2 usage.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CHAOS_US 4000000
#define DEFAULT_HEAL_US 2500000

static void usage(void)
{
    fprintf(stderr, "usage: raft-sim [--nodes 3|5] [--seeds A-B | --seeds A,B,.. | --seed S] "
                    "[--chaos MS] [--heal MS] [--old-install-order] "
                    "[--old-repair] [--no-repair] [--no-floor] [--byzantine] [--keep-going] "
                    "[-v]\n");
    exit(2);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The replay command's --chaos/--heal, when they are not the defaults. */
static const char *replay_times(const sim_config *cfg)
{
    static char buf[80];
    buf[0] = '\0';
    if (cfg->chaos_us != DEFAULT_CHAOS_US || cfg->heal_us != DEFAULT_HEAL_US)
        snprintf(buf, sizeof buf, " --chaos %" PRIu64 " --heal %" PRIu64,
                 cfg->chaos_us / 1000, cfg->heal_us / 1000);
    return buf;
}

/* What the command line asks for. */
typedef struct args {
    sim_config cfg;
    uint64_t first, last;  /* --seed / --seeds A-B */
    uint64_t *list;        /* --seeds A,B,C: n_list seeds */
    size_t n_list;
    int keep_going;
} args;

/* "A,B,C" into a->list; 0 if v is not such a list. */
static int parse_list(const char *v, args *a)
{
    if (!strchr(v, ','))
        return 0;
    for (const char *p = v; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        char *end;
        uint64_t seed = strtoull(p, &end, 10);
        if (end == p || (*end && *end != ','))
            usage();
        a->list = realloc(a->list, (a->n_list + 1) * sizeof *a->list);
        a->list[a->n_list++] = seed;
    }
    return 1;
}

static void parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->cfg.nodes = 3;
    a->cfg.chaos_us = DEFAULT_CHAOS_US;
    a->cfg.heal_us = DEFAULT_HEAL_US;
    a->first = 1;
    a->last = 100;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-v"))
            a->cfg.verbose = 1;
        else if (!strcmp(o, "--old-install-order"))
            a->cfg.old_install_order = 1;
        else if (!strcmp(o, "--old-repair"))
            a->cfg.old_repair = 1;
        else if (!strcmp(o, "--no-repair"))
            a->cfg.no_repair = 1;
        else if (!strcmp(o, "--no-floor"))
            a->cfg.no_floor = 1;
        else if (!strcmp(o, "--byzantine"))
            a->cfg.byzantine = 1;
        else if (!strcmp(o, "--keep-going"))
            a->keep_going = 1;
        else if (!v)
            usage();
        else if (++i && !strcmp(o, "--nodes"))
            a->cfg.nodes = atoi(v);
        else if (!strcmp(o, "--seed"))
            a->first = a->last = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--seeds") && !parse_list(v, a) &&
                 sscanf(v, "%" SCNu64 "-%" SCNu64, &a->first, &a->last) != 2)
            usage();
        else if (!strcmp(o, "--chaos"))
            a->cfg.chaos_us = strtoull(v, NULL, 10) * 1000;
        else if (!strcmp(o, "--heal"))
            a->cfg.heal_us = strtoull(v, NULL, 10) * 1000;
        else if (strcmp(o, "--seeds"))
            usage();
    }
    if (a->cfg.nodes < 1 || a->cfg.nodes > SIM_MAX_NODES - 1 ||
        a->first > a->last)
        usage();
}

/* Run one seed; on a violation print it and the command that replays it. */
static int run_seed(sim_config *cfg, uint64_t seed, sim_stats *st)
{
    char why[1024];
    cfg->seed = seed;
    if (!sim_run(cfg, st, why, sizeof why))
        return 0;
    printf("FAIL %s\nreplay: raft-sim --nodes %d --seed %" PRIu64 "%s%s%s%s%s%s"
           " -v\n", why, cfg->nodes, seed, replay_times(cfg),
           cfg->old_install_order ? " --old-install-order" : "",
           cfg->old_repair ? " --old-repair" : "",
           cfg->no_repair ? " --no-repair" : "",
           cfg->no_floor ? " --no-floor" : "",
           cfg->byzantine ? " --byzantine" : "");
    fflush(stdout);
    return 1;
}

static void print_stats(const sim_stats *st, uint64_t seeds, int nodes,
                        double secs)
{
    printf("ok: %" PRIu64 " seeds, %d nodes, %.1f s: %" PRIu64 " events, %" PRIu64
           " msgs, %" PRIu64 " applied, %" PRIu64 " elections, %" PRIu64
           " crashes, %" PRIu64 " snapshots sent, %" PRIu64 " installed, %" PRIu64
           " transfers, %" PRIu64 " conf changes, %" PRIu64 " client ops ok (%"
           PRIu64 " reads), %" PRIu64 " unknown, %" PRIu64
           " histories too large to check, %" PRIu64 " log tails dropped "
           "next to a snapshot at restart, %" PRIu64 " disks lost synced "
           "entries, %" PRIu64 " log repairs begun (%" PRIu64 " done, %" PRIu64
           " started over, %" PRIu64 " snapshots installed)",
           seeds, nodes, secs, st->events, st->msgs, st->commits,
           st->elections, st->crashes, st->snapshots_sent, st->installs,
           st->transfers, st->conf_changes, st->ops_ok, st->reads_ok,
           st->ops_unknown, st->lin_giveups, st->tails_dropped,
           st->disk_losses, st->repairs, st->repairs_done,
           st->repair_restarts, st->repair_snapshots);
    if (st->forged)
        printf(", %" PRIu64 " messages forged (%" PRIu64 " impossible ones "
               "refused)", st->forged, st->forged_refused);
    printf("\n");
}

int main(int argc, char **argv)
{
    args a;
    parse_args(argc, argv, &a);
    uint64_t seeds = a.n_list ? a.n_list : a.last - a.first + 1, failed = 0;
    sim_stats st = {0};
    double t0 = seconds();
    for (uint64_t k = 0; k < seeds; k++) {
        uint64_t seed = a.n_list ? a.list[k] : a.first + k;
        if (run_seed(&a.cfg, seed, &st) && (++failed, !a.keep_going))
            break;
    }
    free(a.list);
    if (failed && a.keep_going)
        printf("FAILED: %" PRIu64 " of %" PRIu64 " seeds\n", failed, seeds);
    if (failed)
        return 1;
    print_stats(&st, seeds, a.cfg.nodes, seconds() - t0);
    return 0;
}
