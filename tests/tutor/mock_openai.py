#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mock_openai.py: a small OpenAI-compatible Chat Completions server for tests.

It checks every request the way a strict provider would (path, bearer key,
model, the messages with the system prompt and the question, the max tokens
field, temperature, stream options) and answers 400 saying what is wrong, or
401 for a wrong key. What it does with a valid request is chosen by a marker
in the question, so one server serves a whole test suite:

    (none), [mock:ok]    a normal answer (streamed if the request asks for it)
    [mock:stream]        a normal answer, and the request must ask to stream
    [mock:echo]          the answer is a JSON summary of the request
    [mock:429]           429 rate limited every time (no Retry-After)
    [mock:429-then-ok]   429 with Retry-After: 1 (seconds) once, then an answer
    [mock:429-date-then-ok]  the same with Retry-After as an HTTP date (+2 s)
    [mock:503-long]      503 with Retry-After: 3600 every time
    [mock:500-then-ok]   500 once, then an answer
    [mock:500]           500 every time
    [mock:401]           401 invalid_api_key (the message quotes the key sent)
    [mock:400]           400 whose message quotes the key sent
    [mock:quota]         429 insufficient_quota
    [mock:hang]          never answers (until the client goes away)
    [mock:broken]        200 with a body that is not JSON
    [mock:no-choices]    200 with JSON that has no choices
    [mock:json-stream]   answers a stream request with plain JSON
    [mock:sse-split]     a stream in 3-byte pieces, CRLF lines, comments
    [mock:sse-broken]    a stream: one delta, then an event that is not JSON
    [mock:sse-cut]       a stream: one delta, then the connection drops
    [mock:stream-stall]  a stream: one delta, then silence

A marker may carry a tag, [mock:500-then-ok#t7], which keeps its attempt
count apart from other uses of the same scenario. Attempts are counted per
marker (tag included) with their times:

    GET  /_mock/stats   {"total": N, "scenarios": {"500-then-ok": {"attempts":
                        2, "times": [t0, t1]}}, "invalid": [...]}
    GET  /_mock/last    the last chat request's JSON body
    POST /_mock/reset   forget all counts
    GET  /v1/models     the one model

Usage: mock_openai.py [--port 0] [--key KEY] [--model MODEL] [--path PATH]
The first line on stdout is the port it listens on (127.0.0.1).
"""

import argparse
import email.utils
import json
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "Think about what stays true each time round the loop."
MARKER = re.compile(r"\[mock:([a-z0-9-]+)(?:#([A-Za-z0-9_-]+))?\]")
HANG_LIMIT = 120.0  # seconds a hanging response waits for the client to leave


class State:
    """Attempt counts per scenario, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.total = 0
        self.scenarios = {}
        self.invalid = []
        self.last = None

    def attempt(self, key, body):
        """Record one attempt at scenario key; returns its number (1-based)."""
        with self.lock:
            self.total += 1
            self.last = body
            s = self.scenarios.setdefault(key, {"attempts": 0, "times": []})
            s["attempts"] += 1
            s["times"].append(time.monotonic())
            return s["attempts"]

    def reject(self, why):
        with self.lock:
            self.total += 1
            self.invalid = (self.invalid + [why])[-20:]

    def snapshot(self):
        with self.lock:
            return {"total": self.total, "scenarios": self.scenarios,
                    "invalid": self.invalid}


def check(req, opts):
    """What is wrong with a chat request, or None."""
    if not isinstance(req, dict):
        return "the body is not a JSON object"
    if req.get("model") != opts.model:
        return f"model is {req.get('model')!r}, expected {opts.model!r}"
    msgs = req.get("messages")
    if not isinstance(msgs, list) or len(msgs) < 2:
        return "messages must hold at least the system prompt and the question"
    for i, m in enumerate(msgs):
        if (not isinstance(m, dict)
                or m.get("role") not in ("system", "user", "assistant")
                or not isinstance(m.get("content"), str)):
            return f"messages[{i}] is not a {{role, content}} message: {m!r}"
    if msgs[0]["role"] != "system" or not msgs[0]["content"].strip():
        return "messages[0] must be the system prompt"
    if msgs[-1]["role"] != "user" or not msgs[-1]["content"].strip():
        return "the last message must be the user's question"
    fields = [f for f in ("max_completion_tokens", "max_tokens") if f in req]
    if len(fields) != 1:
        return "expected exactly one of max_completion_tokens and max_tokens"
    if opts.max_tokens_field and fields[0] != opts.max_tokens_field:
        return f"expected {opts.max_tokens_field}, got {fields[0]}"
    n = req[fields[0]]
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        return f"{fields[0]} must be a positive integer, got {n!r}"
    t = req.get("temperature")
    if t is not None and (not isinstance(t, (int, float))
                          or isinstance(t, bool) or not 0 <= t <= 2):
        return f"temperature must be a number from 0 to 2, got {t!r}"
    stream = req.get("stream", False)
    if not isinstance(stream, bool):
        return f"stream must be true or false, got {stream!r}"
    so = req.get("stream_options")
    if stream and (not isinstance(so, dict) or so.get("include_usage") is not True):
        return "a stream request must set stream_options.include_usage"
    if not stream and so is not None:
        return "stream_options is only allowed when streaming"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-openai/1"

    # ---- plumbing ----------------------------------------------------

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("mock_openai: " + fmt % args + "\n")

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, message, etype, code=None, headers=()):
        self.send_json(status, {"error": {"message": message, "type": etype,
                                          "param": None, "code": code}},
                       headers)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_piece(self, data):
        """One HTTP chunk, flushed at once."""
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def wait_for_client_to_leave(self):
        """Block until the client closes the connection (or HANG_LIMIT)."""
        sock = self.connection
        until = time.monotonic() + HANG_LIMIT
        while time.monotonic() < until:
            ready, _, _ = select.select([sock], [], [], 0.1)
            if ready:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break
        self.close_connection = True

    # ---- endpoints ---------------------------------------------------

    def do_GET(self):
        if self.path == "/_mock/stats":
            self.send_json(200, self.server.state.snapshot())
        elif self.path == "/_mock/last":
            self.send_json(200, self.server.state.last)
        elif self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [
                {"id": self.server.opts.model, "object": "model"}]})
        else:
            self.send_error_json(404, f"no route {self.path}", "not_found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_mock/reset":
            with self.server.state.lock:
                self.server.state.reset()
            self.send_json(200, {"ok": True})
        elif self.path == self.server.opts.path:
            self.chat(raw)
        else:
            self.server.state.reject(f"POST to {self.path}")
            self.send_error_json(404, f"no route {self.path} (expected "
                                 f"{self.server.opts.path})", "not_found")

    def authorised(self):
        """Check the bearer key; answer 400/401 and return False if wrong."""
        got = self.headers.get("Authorization")
        key = self.server.opts.key
        if key == "":
            if got is not None:
                self.server.state.reject("unexpected Authorization header")
                self.send_error_json(400, "this server takes no key",
                                     "invalid_request_error")
                return False
            return True
        if got != f"Bearer {key}":
            self.server.state.reject("wrong or missing bearer key")
            self.send_error_json(401, f"Incorrect API key provided: {got}",
                                 "invalid_request_error", "invalid_api_key")
            return False
        return True

    def chat(self, raw):
        if not self.authorised():
            return
        ctype = self.headers.get("Content-Type", "")
        try:
            req = json.loads(raw)
        except ValueError as e:
            req, why = None, f"the body is not JSON: {e}"
        else:
            why = check(req, self.server.opts)
        if why is None and not ctype.startswith("application/json"):
            why = f"Content-Type is {ctype!r}, expected application/json"
        if why:
            self.server.state.reject(why)
            self.send_error_json(400, why, "invalid_request_error")
            return
        m = MARKER.search(req["messages"][-1]["content"])
        name = m.group(1) if m else "ok"
        key = name + ("#" + m.group(2) if m and m.group(2) else "")
        n = self.server.state.attempt(key, req)
        scenario = SCENARIOS.get(name)
        if scenario is None:
            self.send_error_json(400, f"unknown mock scenario {name!r}",
                                 "invalid_request_error")
            return
        scenario(self, req, n)

    # ---- answers -----------------------------------------------------

    def answer(self, req, text=ANSWER):
        """A normal answer, streamed if the request asked for it."""
        if req.get("stream"):
            self.start_stream()
            for piece in self.sse_events(req, text):
                self.send_piece(piece)
            self.end_stream()
            return
        self.send_json(200, {
            "id": "chatcmpl-mock", "object": "chat.completion",
            "created": int(time.time()), "model": req["model"] + "-mock",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": usage()})

    def sse_events(self, req, text):
        """The SSE events of a streamed answer, as OpenAI sends them."""
        def chunk(delta, finish=None, choices=True):
            body = {"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": req["model"] + "-mock",
                    "choices": [{"index": 0, "delta": delta,
                                 "finish_reason": finish}] if choices else [],
                    "usage": None}
            return "data: " + json.dumps(body) + "\n\n"
        yield chunk({"role": "assistant", "content": ""})
        for word in re.findall(r"\S+\s*", text):
            yield chunk({"content": word})
        yield chunk({}, "stop")
        last = json.loads(chunk({}, choices=False)[6:])
        last["usage"] = usage()
        yield "data: " + json.dumps(last) + "\n\n"
        yield "data: [DONE]\n\n"


class QuietServer(ThreadingHTTPServer):
    """Clients that hang up (timeouts, cancels) are expected here."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def usage():
    return {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}


def summary(req):
    """What [mock:echo] answers: the parts of the request tests look at."""
    field = "max_completion_tokens" if "max_completion_tokens" in req else "max_tokens"
    return json.dumps({
        "roles": [m["role"] for m in req["messages"]],
        "contents": [m["content"] for m in req["messages"]],
        "max_tokens_field": field, "max_tokens": req[field],
        "temperature": req.get("temperature"), "stream": req.get("stream"),
    })


def retry_after_date(seconds):
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


def s_ok(h, req, n):
    h.answer(req)


def s_stream(h, req, n):
    if not req.get("stream"):
        h.send_error_json(400, "[mock:stream] needs stream: true",
                          "invalid_request_error")
        return
    h.answer(req)


def s_echo(h, req, n):
    h.answer(req, summary(req))


def rate_limited(h, headers=()):
    h.send_error_json(429, "Rate limit reached for requests", "requests",
                      "rate_limit_exceeded", headers)


def s_429(h, req, n):
    rate_limited(h)


def s_429_then_ok(h, req, n):
    if n == 1:
        rate_limited(h, [("Retry-After", "1")])
    else:
        h.answer(req)


def s_429_date_then_ok(h, req, n):
    if n == 1:
        rate_limited(h, [("Retry-After", retry_after_date(2))])
    else:
        h.answer(req)


def s_503_long(h, req, n):
    h.send_error_json(503, "overloaded", "server_error", None,
                      [("Retry-After", "3600")])


def s_500(h, req, n):
    h.send_error_json(500, "The server had an error while processing your "
                      "request.", "server_error")


def s_500_then_ok(h, req, n):
    if n == 1:
        s_500(h, req, n)
    else:
        h.answer(req)


def s_401(h, req, n):
    h.send_error_json(401, "Incorrect API key provided: "
                      + h.headers.get("Authorization", ""),
                      "invalid_request_error", "invalid_api_key")


def s_400(h, req, n):
    h.send_error_json(400, "Invalid request (you sent "
                      + h.headers.get("Authorization", "") + ")",
                      "invalid_request_error")


def s_quota(h, req, n):
    h.send_error_json(429, "You exceeded your current quota, please check "
                      "your plan and billing details.", "insufficient_quota",
                      "insufficient_quota")


def s_hang(h, req, n):
    h.wait_for_client_to_leave()


def s_broken(h, req, n):
    data = b'{"id": "chatcmpl-mock", "choices": [ this is not JSON'
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def s_no_choices(h, req, n):
    h.send_json(200, {"id": "chatcmpl-mock", "object": "chat.completion",
                      "model": req["model"], "usage": usage()})


def s_json_stream(h, req, n):
    h.answer(dict(req, stream=False))


def s_sse_split(h, req, n):
    h.start_stream()
    text = ": keep-alive\r\n\r\n" + "".join(h.sse_events(req, ANSWER))
    text = text.replace("\n\n", "\r\n\r\n")
    data = text.encode()
    for i in range(0, len(data), 3):
        h.send_piece(data[i:i + 3])
    h.end_stream()


def first_delta_then(h, req, after):
    h.start_stream()
    events = h.sse_events(req, ANSWER)
    h.send_piece(next(events))  # the role
    h.send_piece(next(events))  # the first word
    after()


def s_sse_broken(h, req, n):
    def broken():
        h.send_piece('data: {"choices": [{"delta": {"content": "x"\n\n')
        h.end_stream()
    first_delta_then(h, req, broken)


def s_sse_cut(h, req, n):
    def cut():
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
    first_delta_then(h, req, cut)


def s_stream_stall(h, req, n):
    first_delta_then(h, req, h.wait_for_client_to_leave)


SCENARIOS = {
    "ok": s_ok, "stream": s_stream, "echo": s_echo,
    "429": s_429, "429-then-ok": s_429_then_ok,
    "429-date-then-ok": s_429_date_then_ok, "503-long": s_503_long,
    "500": s_500, "500-then-ok": s_500_then_ok,
    "401": s_401, "400": s_400, "quota": s_quota, "hang": s_hang,
    "broken": s_broken, "no-choices": s_no_choices,
    "json-stream": s_json_stream, "sse-split": s_sse_split,
    "sse-broken": s_sse_broken, "sse-cut": s_sse_cut,
    "stream-stall": s_stream_stall,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--key", default="sk-mock",
                    help='the bearer key to expect ("" for none)')
    ap.add_argument("--model", default="mock-model", help="the model to expect")
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--max-tokens-field", default=None,
                    choices=["max_completion_tokens", "max_tokens"],
                    help="require this field (default: either)")
    ap.add_argument("--verbose", action="store_true", help="log each request")
    opts = ap.parse_args()

    server = QuietServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.state = State()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
