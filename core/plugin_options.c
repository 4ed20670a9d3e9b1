/* SPDX-License-Identifier: MIT */
/*
 * plugin_options.c: the shipped plugins' options (plugin_options.h), as
 * their READMEs and docs/tutor_openai.md describe them. A key a plugin
 * starts reading goes here too, or tests/docs/check_sources.py fails.
 */
#include "plugin_options.h"

#include <stddef.h>

#define OPT(k, t, d, h)                                                                     \
    {.section = "", .key = (k), .type = (t), .dflt = (d), .help = (h)}

static const config_key sqlite_keys[] = {
    OPT("path", CONFIG_PATH, "lms.db",
        "The SQLite database file; a relative path is under node.data_dir."),
    OPT("busy_timeout_ms", CONFIG_INT, "5000",
        "How long to wait for another process's lock, in milliseconds (0 to 2147483647)."),
    OPT("synchronous", CONFIG_STRING, "normal",
        "normal, full or off. normal can lose the last commits on power loss, never "
        "corrupting the file; lmsd replays them from its own command log."),
    {.key = NULL},
};

static const config_key mysql_keys[] = {
    OPT("database", CONFIG_STRING, NULL,
        "The database that holds the LMS tables (at most 64 characters, none of ` / \\ .). "
        "Required."),
    OPT("user", CONFIG_STRING, NULL, "The database user. Required."),
    OPT("password", CONFIG_STRING, NULL,
        "Refused: a password does not belong in the config file. Use password_file or "
        "password_env."),
    OPT("password_file", CONFIG_PATH, NULL,
        "A file holding the password on its first line, mode 0600 (refused when others may "
        "read it)."),
    OPT("password_env", CONFIG_STRING, NULL,
        "The name of an environment variable holding the password (instead of "
        "password_file)."),
    OPT("host", CONFIG_STRING, "localhost", "The server's host name or address."),
    OPT("port", CONFIG_INT, "3306", "The server's port, 1 to 65535."),
    OPT("socket", CONFIG_PATH, NULL, "A Unix socket, used instead of host and port when set."),
    OPT("connect_timeout", CONFIG_INT, "5", "Seconds to connect, 1 to 3600."),
    OPT("read_timeout", CONFIG_INT, "30", "Seconds to wait for an answer, 1 to 86400."),
    OPT("write_timeout", CONFIG_INT, "30", "Seconds to send a request, 1 to 86400."),
    OPT("create_database", CONFIG_BOOL, "true",
        "Create the database when it is missing (if the user may)."),
    OPT("row_cache", CONFIG_INT, "16384",
        "Rows the writer keeps in memory, 0 to 1048576; 0 keeps none."),
    OPT("tls.ca", CONFIG_PATH, NULL, "TLS to the server, verified against this CA."),
    OPT("tls.cert", CONFIG_PATH, NULL, "A client certificate; goes with tls.key."),
    OPT("tls.key", CONFIG_PATH, NULL, "The client certificate's key."),
    OPT("tls.verify", CONFIG_BOOL, "true when tls.ca is set",
        "Verify the server's certificate; setting it turns TLS on."),
    {.key = NULL},
};

static const config_key password_keys[] = {
    OPT("time_cost", CONFIG_INT, "2", "argon2id passes over memory, 1 to 64."),
    OPT("memory_kib", CONFIG_INT, "19456",
        "argon2id memory per hash in KiB, at least 8 per lane. Raising the costs later is "
        "safe: every stored hash records the costs it was made with."),
    OPT("parallelism", CONFIG_INT, "1", "argon2id lanes, 1 to 16."),
    {.key = NULL},
};

static const config_key openai_keys[] = {
    OPT("model", CONFIG_STRING, NULL, "The provider's model name, e.g. gpt-4o-mini. Required."),
    OPT("base_url", CONFIG_STRING, "https://api.openai.com/v1",
        "Where questions go (base_url/chat/completions): any OpenAI-compatible server, e.g. "
        "http://127.0.0.1:11434/v1 for Ollama."),
    OPT("allow_insecure_http", CONFIG_BOOL, "false",
        "Allow plain http:// to another machine (the key and the questions then cross the "
        "network unencrypted); http:// to this machine is always allowed."),
    OPT("api_key_env", CONFIG_STRING, "OPENAI_API_KEY",
        "The name of the environment variable holding the API key; \"\" for a server that "
        "needs no key. The key never appears in the config or a log line."),
    OPT("max_tokens", CONFIG_INT, "512", "The longest answer in tokens, 1 to 1000000."),
    OPT("max_tokens_field", CONFIG_STRING, "max_completion_tokens",
        "The request field for max_tokens: max_completion_tokens, or max_tokens for older "
        "servers."),
    OPT("temperature", CONFIG_STRING, "the provider's", "Sampling temperature, 0 to 2."),
    OPT("connect_timeout", CONFIG_DURATION, "10s", "Time to connect, up to 24h."),
    OPT("timeout", CONFIG_DURATION, "60s", "One attempt, the whole response, up to 24h."),
    OPT("retries", CONFIG_INT, "3", "Retries after the first attempt, 0 to 10."),
    OPT("backoff_base", CONFIG_DURATION, "500ms",
        "The first retry's longest wait (full jitter, doubling each retry)."),
    OPT("backoff_max", CONFIG_DURATION, "8s", "The longest wait between retries."),
    OPT("stream", CONFIG_BOOL, "true", "Stream the answer to the student as it comes."),
    {.key = NULL},
};

static const config_key local_keys[] = {
    OPT("index_path", CONFIG_PATH, "tutor_local.db",
        "The search index (SQLite FTS5); a relative path is under node.data_dir, "
        "\":memory:\" keeps it in memory."),
    OPT("max_passages", CONFIG_INT, "3", "Passages quoted per answer, 1 to 10."),
    OPT("passage_words", CONFIG_INT, "120", "Words per indexed passage, 20 to 1000."),
    OPT("min_score", CONFIG_STRING, "0.25",
        "The BM25 score a partial match needs, a number from 0 to 1000."),
    {.key = NULL},
};

const plugin_options plugin_options_shipped[] = {
    {.plugin = "storage_sqlite", .slot = "storage", .keys = sqlite_keys,
     .summary = "Everything in one SQLite database (WAL mode)."},
    {.plugin = "storage_mysql", .slot = "storage", .keys = mysql_keys,
     .summary = "The LMS tables in a MariaDB or MySQL database. Built when libmariadb is "
                "found."},
    {.plugin = "auth_password", .slot = "auth", .keys = password_keys,
     .summary = "Passwords hashed with argon2id; the default auth plugin."},
    {.plugin = "tutor_openai", .slot = "tutor", .keys = openai_keys,
     .summary = "Sends each question to an OpenAI-compatible Chat Completions endpoint and "
                "streams the answer back. Durations read like lmsd's own."},
    {.plugin = "tutor_local", .slot = "tutor", .keys = local_keys,
     .summary = "An offline tutor: answers from the course's own materials and shared "
                "replies, found with SQLite FTS5 and ranked with BM25."},
    {.plugin = NULL},
};
