"""A fast fake LLM server on 127.0.0.1 for offline tests and benchmarks of the gateway.

It speaks enough of two real APIs for the official SDK clients to work unchanged:

- OpenAI: `POST /v1/chat/completions`, `POST /v1/files` (multipart upload), `GET /v1/files/{id}[/content]`,
  `POST /v1/batches`, `GET /v1/batches/{id}`;
- Anthropic: `POST /v1/messages`, `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}[/results]`.

Behaviour is set by `FakeSettings` and can be changed while it runs: latency, a per-model requests/min limit
answered by 429 with `retry-after-ms` / `retry-after` (and, with `limit_headers`, the remaining-requests
header at 0 that real servers send), a per-content script of failures (500, timeout, hang, malformed JSON,
dropped connection, 400/401/404, insufficient_quota, batch expiry), random 500s, and a seeded random fault
mix per model (`faults`: 429 with Retry-After independent of the send rate, 500/503, hangs, malformed
bodies). It counts every request per request content (`content_key(model, messages)`), so a test can
assert that a rerun sent only what was missing, and counts requests for content it already answered with
a valid 200 (`resent_after_ok`: a correct client sends none). The answer echoes the last user message, so
a test can check that no answer was given to the wrong request.

Run it in a background thread (`FakeLLM(...).start()`) or in its own process (`FakeLLM.spawn(...)`, what the
benchmarks use so the server does not share the client's interpreter). Both are driven through the same
small admin API over HTTP (`/_admin/...`). Plain stdlib asyncio HTTP/1.1 with keep-alive: no dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, fields

# Outcomes a script entry (or `always`) may name.
OUTCOMES = {
    "ok",
    "hang",
    "500",
    "502",
    "503",
    "429",
    "timeout",
    "malformed",
    "empty",
    "disconnect",
    "400",
    "401",
    "403",
    "404",
    "insufficient_quota",
    "expired",
}


@dataclass
class FakeSettings:
    latency_s: float = 0.0  # added to every completion (not to 429s, which real servers answer at once)
    rpm: float | None = None  # per-model requests/min; excess requests get 429
    burst_s: float = 1.0  # the server's bucket holds this many seconds of its rate
    retry_after: str = "ms"  # headers sent with 429: "ms" | "s" | "both" | "none"
    script: list[str] = field(default_factory=list)  # outcome of the 1st, 2nd ... arrival of each content
    scripts: dict[str, list[str]] = field(default_factory=dict)  # per content key, instead of `script`
    always: str | None = None  # outcome of every request (e.g. "401"), checked before the script
    error_rate: float = 0.0  # chance of a random 500 once the script is used up
    scripted_retry_after_s: float = 0.05  # retry-after sent with a scripted "429"
    timeout_sleep_s: float = 5.0  # how long a "timeout" request hangs (then it is answered 200)
    hang_s: float = 5.0  # how long a "hang" request holds the connection (then it is dropped, unanswered)
    # Random faults per model name ("*": every model): {outcome: chance, ..., "seed": n}. Drawn per
    # (seed, messages, arrival number), after the script, so a seed gives the same faults to the same
    # requests whatever the timing, and a model with the same seed and messages but no "429" entry gets
    # the same other faults (list "429" last). A "429" answers at once with `fault_retry_after_s`.
    faults: dict[str, dict[str, float]] = field(default_factory=dict)
    fault_retry_after_s: float = 1.0
    limit_headers: bool = False  # rate limiter 429s say x-ratelimit-remaining-requests: 0 (as OpenAI does)
    api_key: str | None = None  # when set, other keys get 401
    reply_words: int = 0  # extra words in each answer (more output tokens)
    batch_polls: int = 1  # retrieves of a batch before it ends
    batch_hold: bool = False  # keep batches in progress until `release_batches()`
    seed: int = 0

    def update(self, **kw) -> None:
        names = {f.name for f in fields(self)}
        for k, v in kw.items():
            if k not in names:
                raise ValueError(f"unknown fake server setting {k!r}")
            setattr(self, k, v)
        extra = [o for sc in self.scripts.values() for o in sc]
        extra += [o for mix in self.faults.values() for o in mix if o != "seed"]
        for o in [*self.script, *extra, *([self.always] if self.always else [])]:
            if o not in OUTCOMES:
                raise ValueError(f"unknown outcome {o!r}; known: {sorted(OUTCOMES)}")


def content_key(model: str, messages: list[dict] | list[tuple[str, str]]) -> str:
    """What the server counts requests by: the model and the messages (system first, as the gateway sends)."""
    msgs = [[m["role"], m["content"]] if isinstance(m, dict) else [m[0], m[1]] for m in messages]
    return hashlib.sha256(json.dumps([model, msgs], ensure_ascii=False).encode()).hexdigest()[:16]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _flatten(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _Bucket:
    def __init__(self, rpm: float, burst_s: float):
        self.rate = rpm / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def try_take(self) -> float:
        """0 if a request may pass now, else the seconds until one may."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate


class _Reply:
    __slots__ = ("status", "body", "headers", "action")

    def __init__(
        self,
        status: int = 200,
        body: bytes | dict | str = b"",
        headers: dict | None = None,
        action: str | None = None,
    ):
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.status, self.body, self.headers, self.action = status, body, headers or {}, action


class _Server:
    """The state and the request handlers; runs on one event loop."""

    def __init__(self, settings: FakeSettings):
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.counts: Counter[str] = Counter()  # content key -> completion requests received
        self.batch_counts: Counter[str] = Counter()  # content key -> batch items received
        self.arrivals: Counter[str] = (
            Counter()
        )  # content key -> arrivals past the rate limiter (script index)
        self.by_path: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        # (monotonic time, model, content key, outcome, retry-after seconds sent with a 429)
        self.events: list[tuple[float, str, str, str, float]] = []
        self.buckets: dict[str, _Bucket] = {}
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.rng = random.Random(self.settings.seed)
        self.received = 0
        self.ok_keys: set[str] = set()  # content keys answered with a valid 200
        self.resent_after_ok: Counter[str] = Counter()  # requests for content already answered 200

    # -- dispatch --------------------------------------------------------------------------------------
    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        path = path.split("?", 1)[0]
        if path.startswith("/_admin/"):
            return self._admin(method, path, body)
        self.by_path[f"{method} {_route(path)}"] += 1
        if method == "POST" and path == "/v1/chat/completions":
            return await self._complete(headers, body, "openai")
        if method == "POST" and path == "/v1/messages":
            return await self._complete(headers, body, "anthropic")
        if self.settings.api_key is not None and not self._authorized(headers):
            flavor = "anthropic" if path.startswith("/v1/messages") else "openai"
            return _failure(flavor, "401")
        if method == "POST" and path == "/v1/files":
            return self._upload(headers, body)
        if method == "GET" and path.startswith("/v1/files/"):
            return self._file(path)
        if method == "POST" and path == "/v1/batches":
            return self._openai_batch_create(body)
        if method == "GET" and path.startswith("/v1/batches/"):
            return self._openai_batch_get(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/v1/messages/batches":
            return self._anthropic_batch_create(headers, body)
        if method == "GET" and path.startswith("/v1/messages/batches/"):
            rest = path[len("/v1/messages/batches/") :]
            if rest.endswith("/results"):
                return self._anthropic_batch_results(rest[: -len("/results")])
            return self._anthropic_batch_get(rest, headers)
        return _Reply(
            404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}
        )

    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        if path == "/_admin/stats":
            return _Reply(200, self.stats(with_events=True))
        if path == "/_admin/settings" and method == "POST":
            try:
                self.settings.update(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return _Reply(400, {"error": str(exc)})
            self.buckets.clear()
            return _Reply(200, asdict(self.settings))
        if path == "/_admin/reset" and method == "POST":
            if json.loads(body or b"{}").get("settings"):
                self.settings.update(**asdict(FakeSettings()))
            self.reset()
            return _Reply(200, {"ok": True})
        if path == "/_admin/release" and method == "POST":
            self.settings.batch_hold = False
            return _Reply(200, {"ok": True})
        return _Reply(404, {"error": "unknown admin route"})

    def stats(self, with_events: bool = False) -> dict:
        out = {
            "received": self.received,
            "distinct": len(self.counts),
            "counts": dict(self.counts),
            "batch_counts": dict(self.batch_counts),
            "by_path": dict(self.by_path),
            "by_outcome": dict(self.by_outcome),
            "max_inflight": dict(self.max_inflight),
            "answered_ok": len(self.ok_keys),
            "resent_after_ok": sum(self.resent_after_ok.values()),
            "batches": {
                bid: {"kind": b["kind"], "n": len(b["items"]), "status": b["status"]}
                for bid, b in self.batches.items()
            },
        }
        if with_events:
            out["events"] = self.events
        return out

    # -- completions -----------------------------------------------------------------------------------
    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        given = bearer[7:] if bearer.lower().startswith("bearer ") else headers.get("x-api-key")
        return given == self.settings.api_key

    def _outcome(self, model: str, ck: str, headers: dict[str, str], flavor: str,
                 msgs: list[tuple[str, str]]) -> tuple[str, float, bool]:
        """Decide what happens to one request: (outcome, retry-after seconds for a 429, whether the 429
        comes from the rate limiter)."""
        s = self.settings
        if s.api_key is not None and not self._authorized(headers):
            return "401", 0.0, False
        if s.always:
            return s.always, s.scripted_retry_after_s, False
        if s.rpm:
            bucket = self.buckets.get(model)
            if bucket is None:
                bucket = self.buckets[model] = _Bucket(s.rpm, s.burst_s)
            wait = bucket.try_take()
            if wait > 0:
                return "429", wait, True
        n = self.arrivals[ck]
        self.arrivals[ck] += 1
        script = s.scripts.get(ck, s.script)
        if n < len(script):
            return script[n], s.scripted_retry_after_s, False
        mix = s.faults.get(model, s.faults.get("*"))
        if mix:
            outcome = _draw(mix, msgs, n)
            if outcome != "ok":
                return outcome, s.fault_retry_after_s, False
        if s.error_rate and self.rng.random() < s.error_rate:
            return "500", 0.0, False
        return "ok", 0.0, False

    async def _complete(self, headers: dict[str, str], body: bytes, flavor: str) -> _Reply:
        try:
            req = json.loads(body)
            model = str(req["model"])
            msgs = [(m["role"], _flatten(m["content"])) for m in req["messages"]]
        except (ValueError, KeyError, TypeError) as exc:
            return _error(flavor, 400, f"cannot parse request: {exc}", "invalid_request_error")
        if flavor == "anthropic" and req.get("system"):
            msgs.insert(0, ("system", _flatten(req["system"])))
        ck = content_key(model, msgs)
        self.received += 1
        self.counts[ck] += 1
        if ck in self.ok_keys:
            self.resent_after_ok[ck] += 1
        outcome, retry_after, limiter = self._outcome(model, ck, headers, flavor, msgs)
        self.by_outcome[outcome] += 1
        if outcome == "429":
            reply = _rate_limited(flavor, retry_after, self.settings.retry_after,
                                  limiter and self.settings.limit_headers)
            sent = parse_wait(reply.headers)
            self.events.append((time.monotonic(), model, ck, outcome, sent))
            return reply
        self.events.append((time.monotonic(), model, ck, outcome, 0.0))
        self.inflight[model] += 1
        self.max_inflight[model] = max(self.max_inflight[model], self.inflight[model])
        try:
            if outcome == "timeout":
                await asyncio.sleep(self.settings.timeout_sleep_s)
            elif outcome == "hang":
                await asyncio.sleep(self.settings.hang_s)
            elif self.settings.latency_s > 0:
                await asyncio.sleep(self.settings.latency_s)
        finally:
            self.inflight[model] -= 1
        if outcome == "ok":
            self.ok_keys.add(ck)
        return self._answer(flavor, outcome, model, msgs, req)

    def _answer(
        self, flavor: str, outcome: str, model: str, msgs: list[tuple[str, str]], req: dict
    ) -> _Reply:
        if outcome in ("ok", "timeout"):
            text = _echo(msgs, self.settings.reply_words)
            return _Reply(200, _ok_body(flavor, model, text, msgs))
        if outcome == "malformed":
            return _Reply(
                200, b'{"id": "x", "choices": [{"message": {"content": "trunc', {"x-fake": "malformed"}
            )
        if outcome == "empty":
            return _Reply(
                200,
                {"id": "x", "object": "chat.completion"}
                if flavor == "openai"
                else {"id": "x", "type": "message"},
            )
        if outcome in ("disconnect", "hang"):
            return _Reply(action="close")
        return _failure(flavor, outcome)

    # -- files -----------------------------------------------------------------------------------------
    def _upload(self, headers: dict[str, str], body: bytes) -> _Reply:
        ctype = headers.get("content-type", "")
        if "boundary=" not in ctype:
            return _error("openai", 400, "expected multipart/form-data", "invalid_request_error")
        boundary = ctype.split("boundary=", 1)[1].strip().strip('"').encode()
        data, filename, purpose = None, "upload.jsonl", ""
        for part in body.split(b"--" + boundary):
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                continue
            content = content[:-2] if content.endswith(b"\r\n") else content
            if b'name="file"' in head:
                data = content
                if b'filename="' in head:
                    filename = head.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
            elif b'name="purpose"' in head:
                purpose = content.decode()
        if data is None:
            return _error("openai", 400, "no file part in upload", "invalid_request_error")
        fid = "file-" + uuid.uuid4().hex[:24]
        self.files[fid] = data
        return _Reply(200, _file_obj(fid, len(data), filename, purpose or "batch"))

    def _file(self, path: str) -> _Reply:
        parts = path.strip("/").split("/")  # v1 files <id> [content]
        fid = parts[2] if len(parts) > 2 else ""
        if fid not in self.files:
            return _error("openai", 404, f"no such file {fid}", "invalid_request_error")
        if len(parts) > 3 and parts[3] == "content":
            return _Reply(200, self.files[fid], {"content-type": "application/octet-stream"})
        return _Reply(200, _file_obj(fid, len(self.files[fid]), "file.jsonl", "batch"))

    # -- batches ---------------------------------------------------------------------------------------
    def _new_batch(self, kind: str, items: list[dict]) -> dict:
        bid = ("batch_" if kind == "openai" else "msgbatch_") + uuid.uuid4().hex[:24]
        batch = {
            "id": bid,
            "kind": kind,
            "items": items,
            "status": "in_progress",
            "polls": 0,
            "created": int(time.time()),
            "results": None,
        }
        self.batches[bid] = batch
        return batch

    def _maybe_finish(self, batch: dict) -> None:
        """A batch ends on its `batch_polls`-th retrieve (unless held); each item then runs its outcome."""
        if batch["results"] is not None:
            return
        batch["polls"] += 1
        if self.settings.batch_hold or batch["polls"] < self.settings.batch_polls:
            return
        results = []
        for item in batch["items"]:
            ck = content_key(item["model"], item["msgs"])
            self.batch_counts[ck] += 1
            n = self.arrivals[ck]
            self.arrivals[ck] += 1
            script = self.settings.scripts.get(ck, self.settings.script)
            outcome = script[n] if n < len(script) else "ok"
            if outcome not in ("ok", "expired", "400", "404"):
                outcome = "500"  # every transient failure shows up as a server error inside a batch
            self.by_outcome["batch:" + outcome] += 1
            results.append((item, outcome))
        batch["results"] = results
        batch["status"] = "ended"

    def _openai_batch_create(self, body: bytes) -> _Reply:
        try:
            req = json.loads(body)
            data = self.files[req["input_file_id"]]
        except (ValueError, KeyError) as exc:
            return _error("openai", 400, f"bad batch request: {exc}", "invalid_request_error")
        items = []
        for i, line in enumerate(data.decode().splitlines()):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                b = row["body"]
                items.append(
                    {
                        "custom_id": row["custom_id"],
                        "model": b["model"],
                        "msgs": [(m["role"], _flatten(m["content"])) for m in b["messages"]],
                        "body": b,
                    }
                )
            except (ValueError, KeyError, TypeError) as exc:
                return _error("openai", 400, f"input file line {i + 1}: {exc}", "invalid_request_error")
        batch = self._new_batch("openai", items)
        batch["input_file_id"] = req["input_file_id"]
        return _Reply(200, self._openai_batch_obj(batch))

    def _openai_batch_get(self, bid: str) -> _Reply:
        batch = self.batches.get(bid)
        if batch is None:
            return _error("openai", 404, f"no such batch {bid}", "invalid_request_error")
        self._maybe_finish(batch)
        return _Reply(200, self._openai_batch_obj(batch))

    def _openai_batch_obj(self, batch: dict) -> dict:
        obj = {
            "id": batch["id"],
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": batch.get("input_file_id", ""),
            "completion_window": "24h",
            "status": "in_progress",
            "created_at": batch["created"],
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": len(batch["items"]), "completed": 0, "failed": 0},
        }
        if batch["results"] is None:
            return obj
        if "output_file_id" not in batch:
            out, err = [], []
            for item, outcome in batch["results"]:
                line = {
                    "id": "batch_req_" + uuid.uuid4().hex[:12],
                    "custom_id": item["custom_id"],
                    "response": None,
                    "error": None,
                }
                if outcome == "ok":
                    text = _echo(item["msgs"], self.settings.reply_words)
                    line["response"] = {
                        "status_code": 200,
                        "request_id": uuid.uuid4().hex,
                        "body": _ok_body("openai", item["model"], text, item["msgs"]),
                    }
                    out.append(line)
                elif outcome == "expired":
                    line["error"] = {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    }
                    err.append(line)
                else:
                    status = int(outcome)
                    line["response"] = {
                        "status_code": status,
                        "request_id": uuid.uuid4().hex,
                        "body": json.loads(_failure("openai", outcome).body),
                    }
                    err.append(line)
            batch["output_file_id"] = self._store("\n".join(json.dumps(x) for x in out)) if out else None
            batch["error_file_id"] = self._store("\n".join(json.dumps(x) for x in err)) if err else None
            batch["n_ok"], batch["n_err"] = len(out), len(err)
            batch["expired"] = any(o == "expired" for _, o in batch["results"])
        obj.update(
            status="expired" if batch["expired"] else "completed",
            output_file_id=batch["output_file_id"],
            error_file_id=batch["error_file_id"],
            request_counts={
                "total": len(batch["items"]),
                "completed": batch["n_ok"],
                "failed": batch["n_err"],
            },
        )
        return obj

    def _store(self, text: str) -> str:
        fid = "file-" + uuid.uuid4().hex[:24]
        self.files[fid] = (text + "\n").encode()
        return fid

    def _anthropic_batch_create(self, headers: dict[str, str], body: bytes) -> _Reply:
        try:
            req = json.loads(body)
            items = []
            for r in req["requests"]:
                p = r["params"]
                msgs = [(m["role"], _flatten(m["content"])) for m in p["messages"]]
                if p.get("system"):
                    msgs.insert(0, ("system", _flatten(p["system"])))
                items.append({"custom_id": r["custom_id"], "model": p["model"], "msgs": msgs, "body": p})
        except (ValueError, KeyError, TypeError) as exc:
            return _error("anthropic", 400, f"bad batch request: {exc}", "invalid_request_error")
        batch = self._new_batch("anthropic", items)
        return _Reply(200, self._anthropic_batch_obj(batch, headers))

    def _anthropic_batch_get(self, bid: str, headers: dict[str, str]) -> _Reply:
        batch = self.batches.get(bid)
        if batch is None:
            return _error("anthropic", 404, f"no such batch {bid}", "not_found_error")
        self._maybe_finish(batch)
        return _Reply(200, self._anthropic_batch_obj(batch, headers))

    def _anthropic_batch_obj(self, batch: dict, headers: dict[str, str]) -> dict:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch["created"]))
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch["created"] + 86400))
        counts = {
            "processing": len(batch["items"]),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        obj = {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": counts,
            "created_at": created,
            "expires_at": expires,
            "ended_at": None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": None,
        }
        if batch["results"] is not None:
            counts["processing"] = 0
            for _, outcome in batch["results"]:
                key = {"ok": "succeeded", "expired": "expired"}.get(outcome, "errored")
                counts[key] += 1
            host = headers.get("host", "127.0.0.1")
            obj.update(
                processing_status="ended",
                ended_at=created,
                results_url=f"http://{host}/v1/messages/batches/{batch['id']}/results",
            )
        return obj

    def _anthropic_batch_results(self, bid: str) -> _Reply:
        batch = self.batches.get(bid)
        if batch is None or batch["results"] is None:
            return _error("anthropic", 404, f"no results for batch {bid}", "not_found_error")
        lines = []
        for item, outcome in batch["results"]:
            if outcome == "ok":
                text = _echo(item["msgs"], self.settings.reply_words)
                result = {
                    "type": "succeeded",
                    "message": _ok_body("anthropic", item["model"], text, item["msgs"]),
                }
            elif outcome == "expired":
                result = {"type": "expired"}
            else:
                result = {"type": "errored", "error": json.loads(_failure("anthropic", outcome).body)}
            lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        return _Reply(200, "\n".join(lines) + "\n", {"content-type": "application/binary"})


def _route(path: str) -> str:
    """Collapse ids in a path so counts group by endpoint."""
    parts = path.strip("/").split("/")
    return "/" + "/".join("{id}" if p.startswith(("file-", "batch_", "msgbatch_")) else p for p in parts)


def _echo(msgs: list[tuple[str, str]], extra_words: int) -> str:
    last = next((c for r, c in reversed(msgs) if r == "user"), "")
    text = "reply to: " + last[:200]
    if extra_words:
        text += " " + " ".join(f"w{i}" for i in range(extra_words))
    return text


def _ok_body(flavor: str, model: str, text: str, msgs: list[tuple[str, str]]) -> dict:
    n_in = sum(_tokens(c) for _, c in msgs)
    n_out = _tokens(text)
    if flavor == "openai":
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
        }
    return {
        "id": "msg_" + uuid.uuid4().hex[:12],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": n_in, "output_tokens": n_out},
    }


def _error(
    flavor: str, status: int, message: str, etype: str, code: str | None = None, headers: dict | None = None
) -> _Reply:
    if flavor == "openai":
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    else:
        body = {"type": "error", "error": {"type": etype, "message": message}}
    return _Reply(status, body, headers)


def _failure(flavor: str, outcome: str) -> _Reply:
    if outcome == "insufficient_quota":
        if flavor == "openai":
            return _error(
                flavor,
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        return _error(
            flavor,
            400,
            "Your credit balance is too low to access the Anthropic API.",
            "invalid_request_error",
        )
    status = int(outcome)
    etype = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "api_error")
    message = {
        400: "Invalid request.",
        401: "Invalid API key.",
        403: "Permission denied.",
        404: "The model does not exist or you do not have access to it.",
        429: "Rate limit reached.",
    }.get(status, "The server had an error processing your request.")
    code = {401: "invalid_api_key", 404: "model_not_found"}.get(status)
    return _error(flavor, status, message, etype, code)


def _draw(mix: dict[str, float], msgs: list[tuple[str, str]], n: int) -> str:
    """The fault of the n-th arrival of these messages under a fault mix: a seeded, timing-free draw."""
    digest = hashlib.sha256(json.dumps([mix.get("seed", 0), msgs, n]).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for outcome, chance in mix.items():
        if outcome == "seed":
            continue
        edge += chance
        if u < edge:
            return outcome
    return "ok"


def _rate_limited(flavor: str, wait_s: float, mode: str, exhausted: bool = False) -> _Reply:
    headers = {}
    if exhausted:
        name = ("x-ratelimit-remaining-requests" if flavor == "openai"
                else "anthropic-ratelimit-requests-remaining")
        headers[name] = "0"
    if mode in ("ms", "both"):
        headers["retry-after-ms"] = str(max(1, math.ceil(wait_s * 1000)))
    if mode in ("s", "both"):
        headers["retry-after"] = str(max(1, math.ceil(wait_s)))
    return _error(
        flavor,
        429,
        "Rate limit reached for requests per minute.",
        "rate_limit_error",
        "rate_limit_exceeded",
        headers,
    )


def parse_wait(headers: dict) -> float:
    """The wait a 429 announced (what a client honouring the headers must wait at least)."""
    if "retry-after-ms" in headers:
        return float(headers["retry-after-ms"]) / 1000.0
    if "retry-after" in headers:
        return float(headers["retry-after"])
    return 0.0


def _file_obj(fid: str, size: int, filename: str, purpose: str) -> dict:
    return {
        "id": fid,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


# -- HTTP/1.1 plumbing ---------------------------------------------------------------------------------
async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    n = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(n) if n else b""


async def _serve_connection(
    server: _Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await _read_body(reader, headers)
            reply = await server.handle(method, target, headers, body)
            if reply.action == "close":
                return
            out = [
                f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}",
                f"content-length: {len(reply.body)}",
            ]
            if "content-type" not in reply.headers:
                out.append("content-type: application/json")
            out += [f"{k}: {v}" for k, v in reply.headers.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + reply.body)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _start(server: _Server, port: int) -> asyncio.base_events.Server:
    return await asyncio.start_server(
        lambda r, w: _serve_connection(server, r, w), "127.0.0.1", port, backlog=1024
    )


class FakeLLM:
    """Handle on a running fake server (in a thread of this process, or in a child process)."""

    def __init__(self, **settings):
        self._settings = FakeSettings()
        self._settings.update(**settings)
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aserver = None
        self._proc: subprocess.Popen | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FakeLLM:
        """Serve from a daemon thread with its own event loop."""
        ready = threading.Event()
        server = _Server(self._settings)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._aserver = loop.run_until_complete(_start(server, 0))
            self.port = self._aserver.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._aserver.close()
            loop.run_until_complete(self._aserver.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LLM server did not start")
        return self

    @classmethod
    def spawn(cls, **settings) -> FakeLLM:
        """Serve from a child process (its own interpreter and core)."""
        self = cls(**settings)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmfeedback_assets_tests.support.fake_llm",
                "--settings",
                json.dumps(asdict(self._settings)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self._proc.kill()
            raise RuntimeError(f"fake LLM server process did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> FakeLLM:
        if self.port is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- admin -----------------------------------------------------------------------------------------
    def _admin(self, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def configure(self, **settings) -> None:
        """Change settings while running (also resets the rate-limit buckets)."""
        self._admin("/_admin/settings", settings)

    def reset(self, settings: bool = True) -> None:
        """Forget counts, events, files and batches (and restore the default settings unless told not to)."""
        self._admin("/_admin/reset", {"settings": settings})

    def release_batches(self) -> None:
        self._admin("/_admin/release", {})

    def stats(self) -> dict:
        """Counts so far: received, distinct, counts (per content key), batch_counts, by_path, by_outcome,
        max_inflight (per model), answered_ok (content keys answered with a valid 200), resent_after_ok
        (requests for content already answered so), batches, and events: [monotonic time, model, content
        key, outcome, announced retry-after seconds] per completion request."""
        return self._admin("/_admin/stats")


def _main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="fake OpenAI/Anthropic server for tests and benchmarks")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--settings", default="{}", help="JSON of FakeSettings fields")
    args = ap.parse_args(argv)
    settings = FakeSettings()
    settings.update(**json.loads(args.settings))
    with contextlib.suppress(ImportError):
        import uvloop  # optional: a faster loop when installed

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def serve() -> None:
        aserver = await _start(_Server(settings), args.port)
        print(f"PORT {aserver.sockets[0].getsockname()[1]}", flush=True)
        async with aserver:
            await aserver.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    _main(sys.argv[1:])
    os._exit(0)
