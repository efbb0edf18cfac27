"""An example modbot plugin for a game server or chat bridge, on the Python standard library only.

Both halves of modbot's HTTP event API (docs/http-api.md): ``ModbotClient`` posts chat lines and reads
verdicts, runs moderator commands and reviews; ``CallbackReceiver`` takes modbot's signed action callbacks,
checks signature and timestamp, drops repeated deliveries by idempotency key, and calls ``GameHooks``.
Run it with MODBOT_URL, MODBOT_TOKEN and MODBOT_CALLBACK_SECRET set::

    printf 'steve\\tgg everyone\\n' | python docs/http_api_plugin.py --server mc-eu-1 --listen 8787
    python docs/http_api_plugin.py --server mc-eu-1 --listen 8787 --demo --seen-file seen.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["CallbackReceiver", "GameHooks", "ModbotClient", "ModbotError", "sign", "verify"]

#: Callbacks whose X-Modbot-Timestamp is further than this from our clock are refused (replays).
MAX_SKEW_S = 300
#: What ``--demo`` posts: a fine line, and a phishing link the shipped policy removes at once.
DEMO = ["steve\tgg everyone, nice base", "griefer42\tfree skins at steamcommunlty.com/gift, log in quick"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Modbot-Signature`` value: ``v1=`` + hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)."""
    mac = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> bool:
    """True if the signature is right (compared in constant time) and the timestamp is within 5 minutes."""
    if not (timestamp and signature and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_S:  # a replay, or a bad clock
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class ModbotError(Exception):
    """modbot answered with an error status (400, 401, 403, 404, 413, ...); ``body`` is its JSON."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class ModbotClient:
    """Blocking client of one server's endpoints (``/v1/servers/{server_id}/...``)."""

    def __init__(self, base_url: str, token: str, server_id: str, timeout_s: float = 10.0):
        self.base_url, self.token, self.server_id, self.timeout_s = base_url.rstrip("/"), token, server_id, timeout_s
        #: The ``X-Modbot-Message-Status`` header of the last verdict answer.
        self.last_message_status: str | None = None

    def _request(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) of one call; waits out a 429's Retry-After up to 5 times."""
        url = f"{self.base_url}/v1/servers/{urllib.parse.quote(self.server_id, safe='')}{path}"
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for attempt in range(6):
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return response.status, dict(response.headers), json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code != 429 or attempt == 5:
                    raw = error.read()
                    body = json.loads(raw) if raw.startswith(b"{") else {"error": raw.decode(errors="replace")}
                    raise ModbotError(error.code, body) from None
                time.sleep(float(error.headers.get("Retry-After") or 1))
        raise AssertionError("unreachable")

    def post_message(self, message_id: str, author_id: str, text: str, *, channel_id: str = "global",
                     author_roles: list[str] | None = None, context: list[dict] | None = None,
                     reply_to: str | None = None) -> dict:
        """Submit a chat line (or, with a known message_id and new text, an edit): ``{"status", "id"}``."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        payload = {"message_id": message_id, "channel_id": channel_id, "author_id": author_id, "text": text,
                   "author_roles": author_roles or [], "reply_to": reply_to, "timestamp": stamp,
                   "context": context or []}
        return self._request("POST", "/messages", payload)[2]

    def verdict(self, message_id: str, wait_s: float = 0.0, poll_s: float = 0.2) -> dict:
        """The verdict object, ``{"status": "skipped"|"failed", ...}``, or ``{"status": "pending"}`` after wait_s."""
        deadline = time.monotonic() + wait_s
        while True:
            path = f"/messages/{urllib.parse.quote(message_id, safe='')}/verdict"
            status, headers, body = self._request("GET", path)
            self.last_message_status = headers.get("X-Modbot-Message-Status")
            if status != 202 or time.monotonic() >= deadline:
                return body
            time.sleep(poll_s)

    def command(self, invoker_id: str, text: str, invoker_roles: list[str] | None = None) -> dict:
        """Run a moderator command such as ``/mod stats 7``; returns the command's reply."""
        payload = {"invoker_id": invoker_id, "invoker_roles": invoker_roles or [], "text": text}
        return self._request("POST", "/commands", payload)[2]

    def review(self, case_id: int, outcome: str, invoker_id: str, invoker_roles: list[str] | None = None) -> dict:
        """Uphold or overturn a case (``outcome`` is "uphold" or "overturn")."""
        payload = {"invoker_id": invoker_id, "invoker_roles": invoker_roles or [], "outcome": outcome}
        return self._request("POST", f"/cases/{case_id}/review", payload)[2]


class GameHooks:
    """Carry out each action (subclass, replace the prints); return our reference for what was done."""

    #: The action names modbot sends; others are answered 422 (recorded as refused, not retried).
    ACTIONS = ("delete", "warn", "timeout", "ban", "post_case", "notify_mods")

    def delete(self, a: dict) -> str:
        print(f"[game] delete message {a['message_id']} in {a['channel_id']}")
        return f"deleted:{a['message_id']}"

    def warn(self, a: dict) -> str:
        print(f"[game] tell {a['author_id']}: your message was removed. {a.get('member_notice') or ''}")
        return f"warned:{a['author_id']}"

    def timeout(self, a: dict) -> str:
        print(f"[game] mute {a['author_id']} for {a.get('duration_s')}s ({a.get('reason')})")
        return f"muted:{a['author_id']}"

    def ban(self, a: dict) -> str:
        print(f"[game] kick and ban {a['author_id']} ({a.get('reason')})")
        return f"banned:{a['author_id']}"

    def post_case(self, a: dict) -> str:
        print(f"[staff] case #{a.get('case_id')}: {a.get('decision')} {a.get('rule_ids')}: {a.get('rationale')}")
        return f"case:{a.get('case_id')}"

    def notify_mods(self, a: dict) -> str:
        print(f"[staff] modbot says: {a.get('reason')}")
        return "notified"


class CallbackReceiver:
    """An HTTP server for modbot's action callbacks: verifies, dedupes, executes, answers ``{"ref": ...}``."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0, path: str = "/modbot",
                 seen_file: str | None = None, hooks: GameHooks | None = None):
        self.secret, self.path, self.seen_file, self.hooks = secret, path, seen_file, hooks or GameHooks()
        self.executed: list[dict] = []  #: every action carried out, in order (the payloads as received)
        self._seen: dict[str, str] = {}  # idempotency key -> our ref
        self._lock = threading.Lock()
        if seen_file and os.path.exists(seen_file):
            with open(seen_file, encoding="utf-8") as lines:
                self._seen.update((row["key"], row["ref"]) for row in map(json.loads, filter(str.strip, lines)))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = receiver.handle(self.headers, body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server, self._thread = ThreadingHTTPServer((host, port), Handler), None
        self.port: int = self._server.server_address[1]  #: the port bound (useful with port 0)
        #: The callback URL to give modbot (``[http_api] callback_url``, or ``token create --callback-url``).
        self.url = f"http://{host}:{self.port}{path}"

    def handle(self, headers, body: bytes) -> tuple[int, dict]:
        """One delivery -> (HTTP status, JSON answer). 401: bad signature or stale timestamp."""
        if not verify(self.secret, headers.get("X-Modbot-Timestamp"), headers.get("X-Modbot-Signature"), body):
            return 401, {"error": "bad signature or stale timestamp"}
        action = json.loads(body)
        key = action.get("idempotency_key") or headers.get("Idempotency-Key") or ""
        if action.get("action") not in GameHooks.ACTIONS:  # a 4xx other than 429: recorded as refused, not retried
            return 422, {"error": f"action {action.get('action')!r} not supported"}
        with self._lock:  # one delivery at a time, so a retry racing the original is still a duplicate
            if key and key in self._seen:
                return 200, {"ref": self._seen[key], "duplicate": True}
            try:
                ref = getattr(self.hooks, action["action"])(action)
            except Exception as exc:  # a 5xx makes modbot retry later with the same key
                return 500, {"error": f"{type(exc).__name__}: {exc}"}
            self.executed.append(action)
            if key:
                self._seen[key] = ref
                if self.seen_file:
                    with open(self.seen_file, "a", encoding="utf-8") as out:
                        out.write(json.dumps({"key": key, "ref": ref}) + "\n")
        return 200, {"ref": ref}

    def start(self) -> CallbackReceiver:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="modbot-callbacks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if started) and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Post stdin's (or the demo's) chat lines, print their verdicts, and carry out modbot's actions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MODBOT_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("MODBOT_TOKEN"), required="MODBOT_TOKEN" not in os.environ)
    parser.add_argument("--callback-secret", default=os.environ.get("MODBOT_CALLBACK_SECRET"))
    parser.add_argument("--server", required=True, help="this game server's id, e.g. mc-eu-1")
    parser.add_argument("--listen", type=int, help="port for modbot's callbacks (path /modbot)")
    parser.add_argument("--seen-file", help="remember executed idempotency keys across restarts")
    parser.add_argument("--demo", action="store_true", help="post two built-in lines instead of stdin")
    args = parser.parse_args(argv)
    receiver = None
    if args.listen is not None:
        if not args.callback_secret:
            parser.error("--listen needs MODBOT_CALLBACK_SECRET or --callback-secret")
        receiver = CallbackReceiver(args.callback_secret, port=args.listen, seen_file=args.seen_file)
        print(f"callbacks on {receiver.start().url}", file=sys.stderr)
    client = ModbotClient(args.url, args.token, args.server)
    for n, line in enumerate(DEMO if args.demo else sys.stdin, 1):
        author, sep, text = line.rstrip("\n").partition("\t")
        if not sep:  # not author_id<TAB>text
            continue
        message_id = f"{int(time.time())}-{n}"
        queued = client.post_message(message_id, author, text)
        verdict = client.verdict(message_id, wait_s=10)
        print(json.dumps({"message_id": message_id, "queued": queued, "verdict": verdict}))
    if receiver is not None:
        print("input done; still serving callbacks (Ctrl-C to stop)", file=sys.stderr)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
