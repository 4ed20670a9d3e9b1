/*
 * main.c: raft-sim, the simulator's command line.
 *
 *   raft-sim [--nodes N] [--seeds FIRST-LAST | --seed S] [-v]
 *            [--chaos MS] [--heal MS]
 *
 * Runs every seed in the range and stops at the first violation, printing
 * the seed, the property and the command that replays it with a trace.
 * Exit status: 0 all passed, 1 a violation, 2 usage.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    fprintf(stderr, "usage: raft-sim [--nodes 3|5] [--seeds A-B | --seed S] "
                    "[--chaos MS] [--heal MS] [-v]\n");
    exit(2);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    sim_config cfg = {0};
    cfg.nodes = 3;
    cfg.chaos_us = 4000000;
    cfg.heal_us = 2500000;
    uint64_t first = 1, last = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            cfg.verbose = 1;
        } else if (!strcmp(a, "--nodes") && v) {
            cfg.nodes = atoi(v), i++;
        } else if (!strcmp(a, "--seed") && v) {
            first = last = strtoull(v, NULL, 10), i++;
        } else if (!strcmp(a, "--seeds") && v) {
            if (sscanf(v, "%" SCNu64 "-%" SCNu64, &first, &last) != 2)
                usage();
            i++;
        } else if (!strcmp(a, "--chaos") && v) {
            cfg.chaos_us = strtoull(v, NULL, 10) * 1000, i++;
        } else if (!strcmp(a, "--heal") && v) {
            cfg.heal_us = strtoull(v, NULL, 10) * 1000, i++;
        } else {
            usage();
        }
    }
    if (cfg.nodes < 1 || cfg.nodes > SIM_MAX_NODES - 1 || first > last)
        usage();
    sim_stats st = {0};
    double t0 = seconds();
    for (uint64_t seed = first; seed <= last; seed++) {
        char why[1024];
        cfg.seed = seed;
        if (sim_run(&cfg, &st, why, sizeof why)) {
            printf("FAIL %s\nreplay: raft-sim --nodes %d --seed %" PRIu64 " -v\n",
                   why, cfg.nodes, seed);
            return 1;
        }
    }
    printf("ok: %" PRIu64 " seeds, %d nodes, %.1f s: %" PRIu64 " events, %" PRIu64
           " msgs, %" PRIu64 " applied, %" PRIu64 " elections, %" PRIu64
           " crashes, %" PRIu64 " snapshots sent, %" PRIu64 " installed, %" PRIu64
           " transfers, %" PRIu64 " conf changes, %" PRIu64 " client ops ok (%"
           PRIu64 " reads), %" PRIu64 " unknown, %" PRIu64
           " histories too large to check\n",
           last - first + 1, cfg.nodes, seconds() - t0, st.events, st.msgs,
           st.commits, st.elections, st.crashes, st.snapshots_sent, st.installs,
           st.transfers, st.conf_changes, st.ops_ok, st.reads_ok, st.ops_unknown,
           st.lin_giveups);
    return 0;
}
