/* SPDX-License-Identifier: MIT */
/*
 * openai_json.c: the Chat Completions request body and the three kinds of
 * JSON that come back: a whole completion, one streamed chunk, and an error
 * object. json-c does the parsing and the escaping.
 *
 * Parsing is strict about the parts we rely on (choices[0] with its message
 * or delta) and lenient about the rest: servers that imitate OpenAI (Ollama,
 * llama.cpp's server, vLLM) add fields, drop usage, or send usage: null on
 * every chunk, and none of that should turn an answer into an error.
 */
#include "openai.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oai_answer_free(oai_answer *a)
{
    oai_buf_free(&a->text);
    free(a->model);
    *a = (oai_answer){0};
}

/* ---- the request ------------------------------------------------------ */

/* Add v under key; takes v, even on failure. -1 on failure (v NULL: OOM). */
static int put(json_object *o, const char *key, json_object *v)
{
    if (!v || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

/* Append {"role": role, "content": content} to the array msgs. */
static int message(json_object *msgs, const char *role, const char *content)
{
    json_object *m = json_object_new_object();
    if (!m || put(m, "role", json_object_new_string(role)) ||
        put(m, "content", json_object_new_string(content)) ||
        json_object_array_add(msgs, m) != 0) {
        json_object_put(m);
        return -1;
    }
    return 0;
}

/* The system prompt, the earlier turns and the question. */
static int messages(json_object *msgs, const lms_tutor_question *q,
                    lms_err *err)
{
    if (q->system_prompt && q->system_prompt[0] &&
        message(msgs, "system", q->system_prompt))
        return LMS_RESOURCE_EXHAUSTED;
    for (size_t i = 0; i < q->n_history; i++) {
        const lms_tutor_turn *t = &q->history[i];
        if (!t->role || !t->content ||
            (strcmp(t->role, "user") != 0 && strcmp(t->role, "assistant") != 0))
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "tutor_openai: history turn %zu has role "
                               "\"%s\" (expected user or assistant)",
                               i, t->role ? t->role : "(null)");
        if (message(msgs, t->role, t->content))
            return LMS_RESOURCE_EXHAUSTED;
    }
    if (message(msgs, "user", q->question))
        return LMS_RESOURCE_EXHAUSTED;
    return LMS_OK;
}

/* model, the max tokens field, temperature and stream. */
static int settings(json_object *root, const oai_options *o)
{
    if (put(root, "model", json_object_new_string(o->model)) ||
        put(root, o->max_tokens_field, json_object_new_int64(o->max_tokens)))
        return -1;
    /* _s keeps the number as the config wrote it: 0.2, not 0.200000000001 */
    if (o->temperature[0] &&
        put(root, "temperature",
            json_object_new_double_s(strtod(o->temperature, NULL),
                                     o->temperature)))
        return -1;
    if (put(root, "stream", json_object_new_boolean(o->stream)))
        return -1;
    if (!o->stream)
        return 0;
    json_object *so = json_object_new_object();
    if (!so || put(so, "include_usage", json_object_new_boolean(1))) {
        json_object_put(so);
        return -1;
    }
    return put(root, "stream_options", so);
}

int oai_json_request(const oai_options *o, const lms_tutor_question *q,
                     char **body, size_t *len, lms_err *err)
{
    json_object *root = json_object_new_object();
    json_object *msgs = json_object_new_array();
    int rc = LMS_RESOURCE_EXHAUSTED;
    *body = NULL;
    if (!root || !msgs) {
        json_object_put(msgs);
        goto out;
    }
    if (put(root, "messages", msgs) || settings(root, o))
        goto out;
    if ((rc = messages(msgs, q, err)) != LMS_OK)
        goto out;
    rc = LMS_RESOURCE_EXHAUSTED;
    const char *s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    if (s && (*body = malloc(*len + 1))) {
        memcpy(*body, s, *len + 1);
        rc = LMS_OK;
    }
out:
    json_object_put(root);
    if (rc == LMS_RESOURCE_EXHAUSTED)
        lms_err_set(err, rc, "tutor_openai: out of memory");
    return rc;
}

/* ---- responses -------------------------------------------------------- */

/* The JSON object in s[0..len), or NULL when s is anything else. */
static json_object *parse_object(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    int ok = json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(o, json_type_object);
    for (size_t i = json_tokener_get_parse_end(tok); ok && i < len; i++)
        ok = s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t';
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* o[key] if it has type t, else NULL. */
static json_object *member(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static const char *member_str(json_object *o, const char *key)
{
    json_object *v = member(o, key, json_type_string);
    return v ? json_object_get_string(v) : NULL;
}

static uint32_t member_u32(json_object *o, const char *key)
{
    json_object *v = member(o, key, json_type_int);
    int64_t n = v ? json_object_get_int64(v) : 0;
    return n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* model and usage, wherever the provider sends them. */
static void note_meta(json_object *root, oai_answer *a)
{
    const char *model = member_str(root, "model");
    if (model && model[0] && !a->model)
        a->model = strdup(model);
    json_object *usage = member(root, "usage", json_type_object);
    if (usage) {
        a->prompt_tokens = member_u32(usage, "prompt_tokens");
        a->completion_tokens = member_u32(usage, "completion_tokens");
    }
}

/* choices[0] as an object, or NULL. */
static json_object *first_choice(json_object *root)
{
    json_object *choices = member(root, "choices", json_type_array);
    if (!choices || json_object_array_length(choices) == 0)
        return NULL;
    json_object *c = json_object_array_get_idx(choices, 0);
    return json_object_is_type(c, json_type_object) ? c : NULL;
}

int oai_json_response(const char *body, size_t len, oai_answer *a)
{
    json_object *root = parse_object(body, len);
    json_object *c = root ? first_choice(root) : NULL;
    json_object *m = c ? member(c, "message", json_type_object) : NULL;
    /* a refusal comes with content null and the reason in "refusal" */
    const char *text = m ? member_str(m, "content") : NULL;
    if (m && !text)
        text = member_str(m, "refusal");
    int rc = -1;
    if (text &&
        oai_buf_add(&a->text, text, strlen(text), OAI_MAX_ANSWER) == 0) {
        note_meta(root, a);
        a->finished = 1;
        rc = 0;
    }
    json_object_put(root);
    return rc;
}

int oai_json_chunk(const char *data, size_t len, oai_answer *a)
{
    json_object *root = parse_object(data, len);
    if (!root)
        return OAI_CHUNK_BROKEN;
    int rc = OAI_CHUNK_OK;
    json_object *choices = NULL, *err = NULL;
    if (json_object_object_get_ex(root, "error", &err) && err) {
        rc = OAI_CHUNK_ERROR;
    } else if (json_object_object_get_ex(root, "choices", &choices) &&
               !json_object_is_type(choices, json_type_array)) {
        rc = OAI_CHUNK_BROKEN;
    } else if (choices && json_object_array_length(choices) > 0) {
        json_object *c = first_choice(root);
        json_object *d = c ? member(c, "delta", json_type_object) : NULL;
        const char *text = d ? member_str(d, "content") : NULL;
        if (!c)
            rc = OAI_CHUNK_BROKEN;
        else if (text && oai_buf_add(&a->text, text, strlen(text),
                                     OAI_MAX_ANSWER) < 0)
            rc = OAI_CHUNK_TOO_LONG;
        else if (member_str(c, "finish_reason"))
            a->finished = 1;
    }
    if (rc == OAI_CHUNK_OK)
        note_meta(root, a);
    json_object_put(root);
    return rc;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

void oai_json_error(const char *body, size_t len, oai_api_error *e)
{
    memset(e, 0, sizeof *e);
    json_object *root = body ? parse_object(body, len) : NULL;
    json_object *err;
    if (!root || !json_object_object_get_ex(root, "error", &err) || !err) {
        json_object_put(root);
        return;
    }
    if (json_object_is_type(err, json_type_string)) {
        copy(e->message, sizeof e->message, json_object_get_string(err));
    } else if (json_object_is_type(err, json_type_object)) {
        json_object *code = NULL;
        json_object_object_get_ex(err, "code", &code);
        /* code is a string at OpenAI, a number at some imitators */
        if (code && !json_object_is_type(code, json_type_null))
            copy(e->code, sizeof e->code, json_object_get_string(code));
        copy(e->type, sizeof e->type, member_str(err, "type"));
        copy(e->message, sizeof e->message, member_str(err, "message"));
    }
    json_object_put(root);
}
