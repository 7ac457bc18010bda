"""A small HTTP proxy on 127.0.0.1 in front of a moto server that injects the faults moto
cannot: latency, KMS throttling, AccessDenied on GetKeyPolicy for chosen keys (and on
AssumeRole for chosen accounts), a whole region failing, and paged KMS list responses.
Standard library only; it stops itself after `max_seconds`.

In process (tests):   with FaultProxy(moto_url, FaultPlan(latency=0.05)) as url: ...
As a process (bench): python fault_proxy.py --upstream URL --port N --latency 0.05
Counters: GET /__fault_proxy/stats (POST also resets them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
STATS_PATH = "/__fault_proxy/stats"
_STS_ACCESS_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
    b"<Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to "
    b"perform: sts:AssumeRole</Message></Error><RequestId>fault-proxy</RequestId>"
    b"</ErrorResponse>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass
class FaultPlan:
    """What to inject. Mutable on purpose: a test may change it while the proxy runs."""

    latency: float = 0.0  # seconds added to every request
    jitter: float = 0.0  # plus uniform 0..jitter seconds
    throttle_fraction: float = 0.0  # share of KMS requests answered with ThrottlingException
    throttle_first: dict[str, int] = field(default_factory=dict)  # op -> first N throttled
    throttle_always: frozenset[str] = frozenset()  # ops throttled every time
    deny_policy_keys: frozenset[str] = frozenset()  # key ids: GetKeyPolicy -> AccessDenied
    failing_regions: frozenset[str] = frozenset()  # every KMS call in them fails
    region_failure_status: int = 400  # 400: UnrecognizedClientException; 5xx: server error
    deny_assume_role: frozenset[str] = frozenset()  # account ids: sts:AssumeRole -> AccessDenied
    page_size: int = 0  # > 0: split KMS list responses into pages of this size (Marker)
    seed: int = 0
    #: hostile API bodies: operation -> the raw body answered with HTTP 200 instead
    garbage: dict[str, bytes] = field(default_factory=dict)
    #: key id -> the policy text GetKeyPolicy answers for it (HTTP 200, well-formed JSON)
    policy_texts: dict[str, str] = field(default_factory=dict)
    hang_regions: frozenset[str] = frozenset()  # every KMS call there waits hang_seconds
    hang_seconds: float = 0.0
    op_latency: dict[str, float] = field(default_factory=dict)  # operation -> extra seconds


@dataclass(frozen=True, slots=True)
class _Call:
    service: str
    region: str
    operation: str
    body: bytes


def _classify(headers: dict[str, str], body: bytes, method: str = "", path: str = "") -> _Call:
    scope = _SCOPE_RE.search(headers.get("authorization", ""))
    region, service = scope.groups() if scope else ("", "")
    target = headers.get("x-amz-target", "")
    if service == "s3":  # REST: a GET without list-type reads an object
        listing = "list-type=" in path or method != "GET"
        operation = f"{method}:list" if listing else "GetObject"
    elif target:
        operation = target.rsplit(".", 1)[-1]
    else:  # query protocol (STS, EC2): Action=... in the form body
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        operation = form.get("Action", [""])[0]
    return _Call(service=service, region=region, operation=operation, body=body)


#: KMS list operations and the key of their items (moto returns everything at once)
_PAGED = {
    "ListKeys": "Keys",
    "ListAliases": "Aliases",
    "ListGrants": "Grants",
    "ListResourceTags": "Tags",
}


def _page(call: _Call, data: bytes, size: int) -> bytes:
    """One page of a KMS list, as AWS pages it: `Marker` in, `NextMarker` and `Truncated`
    out. The marker is the offset; moto ignores the Marker it is forwarded."""
    items_key = _PAGED.get(call.operation)
    if items_key is None:
        return data
    request = json.loads(call.body or b"{}")
    start = int(request.get("Marker") or 0)
    response = json.loads(data)
    items = response.get(items_key, [])
    response[items_key] = items[start : start + size]
    response["Truncated"] = start + size < len(items)
    response.pop("NextMarker", None)
    if response["Truncated"]:
        response["NextMarker"] = str(start + size)
    return json.dumps(response).encode()


class FaultProxy:
    """Forward to `upstream`, applying `plan`; `stats` counts what happened."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        *,
        port: int = 0,
        max_seconds: float = 600.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy only forwards to a server on 127.0.0.1")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.plan = plan or FaultPlan()
        self.max_seconds = max_seconds
        self.stats: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()  # "service:Operation" -> requests
        self._lock = threading.Lock()
        self._rng = random.Random(self.plan.seed)
        self._seen: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self.url

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def serve_until_deadline(self) -> None:
        """Foreground mode: serve until `max_seconds` have passed."""
        self.start()
        assert self._thread is not None
        self._thread.join()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- decisions -----------------------------------------------------------------

    def _assume_role_denied(self, call: _Call) -> bool:
        if call.service != "sts" or call.operation != "AssumeRole":
            return False
        form = urllib.parse.parse_qs(call.body.decode("utf-8", "replace"))
        role = form.get("RoleArn", [""])[0]
        denied = any(f":{account}:" in role for account in self.plan.deny_assume_role)
        if denied:
            self._count("assume_role_denied")
        return denied

    def _fault(self, call: _Call) -> tuple[int, dict[str, str]] | None:
        """The error to answer instead of forwarding, if any."""
        plan = self.plan
        if call.service != "kms":
            return None
        with self._lock:
            self._seen[call.operation] += 1
            nth = self._seen[call.operation]
            roll = self._rng.random()
        if call.region in plan.failing_regions:
            self._count("region_failure")
            if plan.region_failure_status >= 500:
                return plan.region_failure_status, {
                    "__type": "KMSInternalException",
                    "message": "We encountered an internal error. Please try again.",
                }
            return 400, {
                "__type": "UnrecognizedClientException",
                "message": "The security token included in the request is invalid.",
            }
        if (
            call.operation in plan.throttle_always
            or nth <= plan.throttle_first.get(call.operation, 0)
            or roll < plan.throttle_fraction
        ):
            self._count("throttled")
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if call.operation == "GetKeyPolicy" and plan.deny_policy_keys:
            key_id = str(json.loads(call.body or b"{}").get("KeyId", ""))
            if any(k and k in key_id for k in plan.deny_policy_keys):
                self._count("access_denied")
                return 400, {
                    "__type": "AccessDeniedException",
                    "message": f"User: arn:aws:sts::000000000000:assumed-role/scanner is not "
                    f"authorized to perform: kms:GetKeyPolicy on resource: {key_id}",
                }
        return None

    def _hostile_body(self, call: _Call) -> bytes | None:
        """A 200 answer the scanner must not trust: garbage, or a chosen policy text."""
        if call.service != "kms":
            return None
        garbage = self.plan.garbage.get(call.operation)
        if garbage is not None:
            self._count("garbage")
            return garbage
        if call.operation == "GetKeyPolicy" and self.plan.policy_texts:
            key_id = str(json.loads(call.body or b"{}").get("KeyId", ""))
            text = self.plan.policy_texts.get(key_id)
            if text is not None:
                self._count("policy_text")
                return json.dumps({"Policy": text, "PolicyName": "default"}).encode()
        return None

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _delay(self) -> None:
        plan = self.plan
        pause = plan.latency + (self._rng.uniform(0, plan.jitter) if plan.jitter else 0.0)
        if pause > 0:
            time.sleep(pause)

    # -- HTTP ----------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # one instance (and thread) per client connection, holding one upstream socket
            protocol_version = "HTTP/1.1"
            server_version: ClassVar[str] = "fault-proxy"
            conn: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: object) -> None:
                pass

            def finish(self) -> None:
                super().finish()
                self._drop_upstream()

            def _drop_upstream(self) -> None:
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None

            def _upstream(self) -> http.client.HTTPConnection:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=60
                    )
                return self.conn

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(STATS_PATH):
                    self._stats()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                call = _classify(headers, body, self.command, self.path)
                proxy._count("requests")
                with proxy._lock:
                    proxy.operations[f"{call.service or '?'}:{call.operation or '?'}"] += 1
                proxy._delay()
                if proxy._assume_role_denied(call):
                    self._reply(403, [("Content-Type", "text/xml")], _STS_ACCESS_DENIED)
                    return
                extra = proxy.plan.op_latency.get(call.operation, 0.0)
                if extra:
                    time.sleep(extra)
                if call.service == "kms" and call.region in proxy.plan.hang_regions:
                    proxy._count("hung")
                    time.sleep(proxy.plan.hang_seconds)
                hostile = proxy._hostile_body(call)
                if hostile is not None:
                    self._reply(200, [("Content-Type", "application/x-amz-json-1.1")], hostile)
                    return
                fault = proxy._fault(call)
                if fault is not None:
                    status, payload = fault
                    self._reply(
                        status,
                        [("Content-Type", "application/x-amz-json-1.1")],
                        json.dumps(payload).encode(),
                    )
                    return
                status, resp_headers, data = self._forward(body)
                if status == 200 and call.service == "kms" and proxy.plan.page_size > 0:
                    data = _page(call, data, proxy.plan.page_size)
                self._reply(status, resp_headers, data)

            def _stats(self) -> None:
                """GET: what the proxy saw so far; POST: the same, then start counting anew."""
                with proxy._lock:
                    data = json.dumps(
                        {"stats": dict(proxy.stats), "operations": dict(proxy.operations)}
                    ).encode()
                    if self.command == "POST":
                        proxy.stats.clear()
                        proxy.operations.clear()
                self._reply(200, [("Content-Type", "application/json")], data)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                send = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                for attempt in (1, 2):  # a kept-alive upstream socket may have gone stale
                    conn = self._upstream()
                    try:
                        conn.request(self.command, self.path, body=body, headers=send)
                        resp = conn.getresponse()
                        data = resp.read()
                    except (http.client.HTTPException, OSError):
                        self._drop_upstream()
                        if attempt == 2:
                            raise
                        continue
                    kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
                    return resp.status, kept, data
                raise AssertionError("unreachable")

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="moto server URL on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--throttle-fraction", type=float, default=0.0)
    parser.add_argument("--deny-policy-key", action="append", default=[])
    parser.add_argument("--failing-region", action="append", default=[])
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    plan = FaultPlan(
        latency=args.latency,
        jitter=args.jitter,
        throttle_fraction=args.throttle_fraction,
        deny_policy_keys=frozenset(args.deny_policy_key),
        failing_regions=frozenset(args.failing_region),
    )
    proxy = FaultProxy(args.upstream, plan, port=args.port, max_seconds=args.max_seconds)
    print(proxy.url, flush=True)
    proxy.serve_until_deadline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
