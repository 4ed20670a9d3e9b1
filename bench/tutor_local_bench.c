/* SPDX-License-Identifier: MIT */
/*
 * tutor_local_bench.c: how long tutor_local takes to answer with a large
 * course indexed.
 *
 * Loads tutor_local.so the way lmsd does (dlopen, descriptor, a small fake
 * host), feeds one course about 10,000 passages and times ask() for 1,000
 * questions, one after the other, as lmsd's single tutor thread would.
 * The course text is synthetic but not uniform: words are drawn with a
 * Zipf distribution (a few words everywhere, most words rare, as in real
 * text) from a vocabulary of English function words (the head of the
 * distribution, as in real text: about half of all words), course words
 * and made-up words, with a seeded PRNG, so every run indexes the same
 * text and asks the same questions. A handful of real paragraphs and
 * instructor replies are mixed in.
 *
 *   tutor_local_bench [-n PASSAGES] [-q QUESTIONS] [-s SEED] [--memory]
 *                     [--harsh] [--plugin PATH] [--show N]
 *
 * --memory keeps the index in memory (index_path ":memory:"); by default
 * it is a file in a temporary directory, as in lmsd. --harsh leaves the
 * function words out, so that the head of the distribution is course
 * words found in nearly every passage ("pointer", "memory"): a stress test
 * in which many questions consist only of words the whole course uses.
 * --show N prints the first N questions and answers.
 */
#include <lms/tutor.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COURSE "BENCH1"
#define PARAS_PER_MATERIAL 10
#define VOCAB 6000

struct lms_plugin_ctx {
    const char *const *config;
    const char *data_dir;
};

typedef struct bench_opts {
    long passages, questions, show;
    unsigned long long seed;
    int memory, harsh;
    const char *plugin;
} bench_opts;

/* ---- a small host ---- */

static const char *lookup(struct lms_plugin_ctx *ctx, const char *key)
{
    for (const char *const *kv = ctx->config; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static void host_log(struct lms_plugin_ctx *ctx, int level, const char *fmt,
                     ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static int host_string(struct lms_plugin_ctx *ctx, const char *key,
                       const char **out, lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "no key %s", key);
    *out = v;
    return LMS_OK;
}

static int host_int(struct lms_plugin_ctx *ctx, const char *key,
                    long long *out, lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "no key %s", key);
    *out = strtoll(v, NULL, 10);
    return LMS_OK;
}

static int host_bool(struct lms_plugin_ctx *ctx, const char *key, int *out,
                     lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "no key %s", key);
    *out = strcmp(v, "true") == 0;
    return LMS_OK;
}

static const char *host_data_dir(struct lms_plugin_ctx *ctx)
{
    return ctx->data_dir;
}

static const struct lms_host bench_host = {
    .size = sizeof(struct lms_host),
    .log = host_log,
    .config_string = host_string,
    .config_int = host_int,
    .config_bool = host_bool,
    .data_dir = host_data_dir,
};

/* ---- deterministic text ---- */

static unsigned long long rng_state;

/* splitmix64: small, fast, and the same sequence on every machine. */
static unsigned long long rng(void)
{
    unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static long rng_below(long n)
{
    return (long)(rng() % (unsigned long long)n);
}

/* The most frequent words of English prose, most frequent first. */
static const char *const function_words[] = {
    "the", "of", "and", "to", "in", "is", "that", "it", "for", "as", "with",
    "on", "be", "this", "are", "by", "or", "from", "at", "an", "not", "but",
    "which", "you", "can", "if", "when", "so", "all", "we", "its", "has",
    "was", "will", "there", "their", "more", "each", "do", "how", "other",
    "into", "than", "then", "them", "these", "only", "also", "about",
    "some", "such", "may", "must", "one", "two", "use", "first", "new",
};
#define N_FUNCTION_WORDS (sizeof function_words / sizeof *function_words)

static const char *const course_words[] = {
    "pointer", "memory", "function", "array", "string", "struct", "loop",
    "variable", "compiler", "malloc", "free", "stack", "heap", "recursion",
    "buffer", "file", "header", "macro", "linker", "thread", "signal",
    "socket", "process", "integer", "overflow", "address", "value", "type",
    "return", "argument", "parameter", "scope", "lifetime", "allocation",
    "leak", "valgrind", "sanitizer", "debugger", "breakpoint", "assertion",
    "test", "list", "tree", "hash", "queue", "sort", "search", "binary",
    "complexity", "algorithm", "iteration", "index", "element", "node",
};
#define N_COURSE_WORDS (sizeof course_words / sizeof *course_words)

static char vocab[VOCAB][16];
static double zipf_cdf[VOCAB];

/* Function words take the top ranks (unless harsh), course words the
 * next; the rest are made-up words of 2..4 syllables ("tamiro"). */
static void build_vocab(int harsh)
{
    static const char cons[] = "bdfgklmnprstvz", vow[] = "aeiou";
    size_t head = harsh ? 0 : N_FUNCTION_WORDS;
    double total = 0;
    for (int r = 0; r < VOCAB; r++) {
        if ((size_t)r < head) {
            snprintf(vocab[r], sizeof vocab[r], "%s", function_words[r]);
        } else if ((size_t)r < head + N_COURSE_WORDS) {
            snprintf(vocab[r], sizeof vocab[r], "%s",
                     course_words[r - head]);
        } else {
            int syl = 2 + (int)rng_below(3), n = 0;
            for (int s = 0; s < syl; s++) {
                vocab[r][n++] = cons[rng_below(sizeof cons - 1)];
                vocab[r][n++] = vow[rng_below(sizeof vow - 1)];
            }
            vocab[r][n] = '\0';
        }
        total += 1.0 / (r + 1);
        zipf_cdf[r] = total;
    }
    for (int r = 0; r < VOCAB; r++)
        zipf_cdf[r] /= total;
}

static const char *zipf_word(void)
{
    double u = (double)(rng() >> 11) / 9007199254740992.0; /* [0, 1) */
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return vocab[lo];
}

/* Append a paragraph of 70..119 words in sentences of 6..17 words. */
static void paragraph(char *out, size_t cap)
{
    size_t len = strlen(out);
    int words = 70 + (int)rng_below(50), in_sentence = 0, sentence = 0;
    for (int w = 0; w < words; w++) {
        if (in_sentence == 0)
            sentence = 6 + (int)rng_below(12);
        const char *word = zipf_word();
        int end = ++in_sentence == sentence || w == words - 1;
        len += (size_t)snprintf(out + len, cap - len, "%s%c%s%s",
                                w ? " " : "", in_sentence == 1 ? word[0] - 32
                                                               : word[0],
                                word + 1, end ? "." : "");
        if (end)
            in_sentence = 0;
    }
    snprintf(out + len, cap - len, "\n\n");
}

static const char *const real_paragraphs[] = {
    "Every block obtained from malloc must be given back exactly once with "
    "free when you no longer need it. Forgetting to call free leaks memory; "
    "calling free twice on the same pointer corrupts the heap.",
    "A recursive function is a function that calls itself. Every recursive "
    "function needs a base case that returns without calling itself, "
    "otherwise the calls never stop and the stack overflows.",
    "Never copy a string with strcpy into a buffer that might be too small. "
    "Use snprintf with the size of the destination, which always terminates "
    "the result and tells you when the text did not fit.",
    "Grades are based on five assignments worth sixty percent and a final "
    "exam worth forty percent. The final exam is written on paper and "
    "closed book.",
};

static const char *const real_questions[] = {
    "How do I free memory allocated with malloc?",
    "Why does my recursive function overflow the stack?",
    "Is strcpy safe to use with a small buffer?",
    "How much is the final exam worth?",
    "What is the capital of France?",
    "NEAR(malloc free) AND \"pointer* OR (heap",
};

/* ---- the plugin ---- */

typedef struct answer_stats {
    long answered, sources, empty;
    const char *show; /* print this answer (question text), or NULL */
} answer_stats;

static void on_done(void *arg, int status, const lms_tutor_answer *a,
                    const lms_err *err)
{
    answer_stats *st = arg;
    if (status != LMS_OK || a == NULL) {
        fprintf(stderr, "ask failed: %s\n", err ? err->msg : "?");
        exit(1);
    }
    st->answered++;
    st->sources += (long)a->n_sources;
    st->empty += a->n_sources == 0;
    if (st->show)
        printf("Q: %s\n%s\n", st->show, a->text);
}

static const struct lms_tutor_ops *load(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        exit(1);
    }
    void *sym = dlsym(dl, LMS_PLUGIN_ENTRY_SYMBOL);
    lms_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const struct lms_plugin_descriptor *d = sym ? entry() : NULL;
    if (d == NULL || d->kind != LMS_PLUGIN_TUTOR || d->ops == NULL) {
        fprintf(stderr, "%s: not a tutor plugin\n", path);
        exit(1);
    }
    return d->ops;
}

static double clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wall time, and this thread's CPU time (which a busy machine does not
 * inflate: on two shared cores, wall time includes waiting for a core). */
static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static double cpu_ms(void)
{
    return clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

static void must(int rc, const lms_err *err, const char *what)
{
    if (rc != LMS_OK) {
        fprintf(stderr, "%s failed (%d): %s\n", what, rc, err->msg);
        exit(1);
    }
}

/* ---- the run ---- */

/* Learn `passages` passages: materials of 10 synthetic paragraphs, every
 * 50th document an instructor reply, the real paragraphs once. */
static long learn_all(const struct lms_tutor_ops *ops, void *inst,
                      long passages)
{
    static char text[PARAS_PER_MATERIAL * 1200];
    lms_err err = {0};
    long done = 0, id = 1;
    for (size_t i = 0; i < sizeof real_paragraphs / sizeof *real_paragraphs;
         i++, done++) {
        lms_tutor_doc d = {.course = COURSE, .kind = "material", .id = id++,
                           .title = "Course notes", .text = real_paragraphs[i],
                           .len = strlen(real_paragraphs[i])};
        must(ops->learn(inst, &d, &err), &err, "learn");
    }
    while (done < passages) {
        int reply = id % 50 == 0;
        long paras = reply ? 1 : PARAS_PER_MATERIAL;
        if (paras > passages - done)
            paras = passages - done;
        text[0] = '\0';
        for (long p = 0; p < paras; p++)
            paragraph(text, sizeof text);
        char title[64], question[128];
        snprintf(title, sizeof title, "%s %s", zipf_word(), zipf_word());
        snprintf(question, sizeof question, "How does %s relate to %s?",
                 zipf_word(), zipf_word());
        lms_tutor_doc d = {.course = COURSE,
                           .kind = reply ? "reply" : "material", .id = id++,
                           .title = title, .question = reply ? question : NULL,
                           .text = text, .len = strlen(text)};
        must(ops->learn(inst, &d, &err), &err, "learn");
        done += paras;
    }
    return id - 1;
}

/* A question of 3..12 words from the same vocabulary, with some of the
 * words students wrap around them. */
static void make_question(long i, char *out, size_t cap)
{
    static const char *const wrap[] = {"How do I use", "What is",
                                       "Why does my", "Can you explain"};
    long nreal = (long)(sizeof real_questions / sizeof *real_questions);
    if (i % 100 < nreal) {
        snprintf(out, cap, "%s", real_questions[i % 100]);
        return;
    }
    size_t len = (size_t)snprintf(out, cap, "%s", wrap[rng_below(4)]);
    int words = 3 + (int)rng_below(10);
    for (int w = 0; w < words; w++)
        len += (size_t)snprintf(out + len, cap - len, " %s", zipf_word());
    snprintf(out + len, cap - len, "?");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One line of percentiles; sorts ms. */
static void percentiles(const char *what, double *ms, long n)
{
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += ms[i];
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    printf("  %-9s p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, "
           "mean %.3f ms\n", what, ms[n / 2], ms[n * 90 / 100],
           ms[n * 99 / 100], ms[n - 1], sum / (double)n);
}

static void report(double *wall, double *cpu, long n, double learn_ms,
                   long passages, long docs, const answer_stats *st,
                   const bench_opts *o)
{
    printf("tutor_local: %ld passages in %ld documents, index %s, %s "
           "text\n", passages, docs, o->memory ? "in memory" : "on disk",
           o->harsh ? "harsh" : "realistic");
    printf("  learn: %.0f ms total, %.1f us per passage\n", learn_ms,
           learn_ms * 1e3 / (double)passages);
    printf("  ask: %ld questions, one at a time\n", n);
    percentiles("wall", wall, n);
    percentiles("cpu", cpu, n);
    printf("  answers: %.2f sources on average, %ld with none\n",
           (double)st->sources / (double)n, st->empty);
}

static void parse_args(int argc, char **argv, bench_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--memory") == 0 || strcmp(a, "--harsh") == 0) {
            if (a[2] == 'm')
                o->memory = 1;
            else
                o->harsh = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "usage: %s [-n PASSAGES] [-q QUESTIONS] "
                    "[-s SEED] [--memory] [--harsh] [--plugin PATH] "
                    "[--show N]\n",
                    argv[0]);
            exit(2);
        }
        if (strcmp(a, "-n") == 0)
            o->passages = atol(v);
        else if (strcmp(a, "-q") == 0)
            o->questions = atol(v);
        else if (strcmp(a, "-s") == 0)
            o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--plugin") == 0)
            o->plugin = v;
        else if (strcmp(a, "--show") == 0)
            o->show = atol(v);
        i++;
    }
    if (o->passages < 10 || o->questions < 1) {
        fprintf(stderr, "need -n >= 10 and -q >= 1\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    bench_opts o = {.passages = 10000, .questions = 1000, .seed = 42,
                    .plugin = LMS_PLUGIN_BUILD_DIR "/tutor_local.so"};
    parse_args(argc, argv, &o);
    rng_state = o.seed;
    build_vocab(o.harsh);
    const struct lms_tutor_ops *ops = load(o.plugin);

    char dir[] = "/tmp/lms-tutor-bench-XXXXXX", path[64];
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    const char *const config[] = {"index_path", o.memory ? ":memory:"
                                                         : "tutor_local.db",
                                  NULL};
    struct lms_plugin_ctx ctx = {config, dir};
    lms_err err = {0};
    void *inst;
    must(ops->init(&bench_host, &ctx, &inst, &err), &err, "init");

    double t0 = now_ms();
    long docs = learn_all(ops, inst, o.passages);
    double learn_ms = now_ms() - t0;

    double *wall = calloc((size_t)o.questions, sizeof *wall);
    double *cpu = calloc((size_t)o.questions, sizeof *cpu);
    answer_stats st = {0};
    char question[512];
    for (long i = 0; i < o.questions; i++) {
        make_question(i, question, sizeof question);
        st.show = i < o.show ? question : NULL;
        lms_tutor_question q = {.course = COURSE, .student = "bench",
                                .system_prompt = "", .question = question};
        lms_tutor_reply r = {.arg = &st, .done = on_done};
        double start = now_ms(), start_cpu = cpu_ms();
        must(ops->ask(inst, &q, &r, &err), &err, "ask");
        wall[i] = now_ms() - start;
        cpu[i] = cpu_ms() - start_cpu;
    }
    report(wall, cpu, o.questions, learn_ms, o.passages, docs, &st, &o);
    ops->shutdown(inst);
    snprintf(path, sizeof path, "%s/tutor_local.db", dir);
    unlink(path);
    rmdir(dir);
    free(wall);
    free(cpu);
    return 0;
}
