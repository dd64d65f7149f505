"""A real HTTP peer on loopback that forwards S3 requests to moto, or answers chosen ones with errors.

Used to meet the errors moto does not produce (403, throttling, 5xx) over real HTTP, to play a hung
server (the connection is taken, the answer never comes), and to count the requests an operation makes.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Fault:
    method: str | None
    path: re.Pattern
    status: int
    code: str
    times: int | None  # None: every matching request
    skip: int = 0  # let this many matching requests through first
    hang: str | None = None  # "request": never answer; "body": send the headers and half the body, then stall
    bytes_per_s: int | None = None  # forward the answer, its body trickled at this rate (a slow link)


class FaultProxy:
    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = urlparse(upstream) if upstream else None
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()  # set on exit: hung handlers close their connections and end
        self._hung: list[threading.Thread] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                body = self._read_body()
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                    fault = proxy._take_fault(self.command, self.path)
                if fault is not None and fault.hang == "request":
                    self._stall()
                elif fault is not None and fault.hang == "body":
                    self._forward(body, stall_body=True)
                elif fault is not None and fault.bytes_per_s:
                    self._forward(body, bytes_per_s=fault.bytes_per_s)
                elif fault is not None:
                    self._answer_error(fault)
                else:
                    self._forward(body)

            def _stall(self) -> None:
                with proxy._lock:
                    proxy._hung.append(threading.current_thread())
                proxy._release.wait()
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer_error(self, fault: Fault) -> None:
                xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
                       f"<Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>").encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)

            def _forward(self, body: bytes, stall_body: bool = False, bytes_per_s: int | None = None) -> None:
                if proxy.upstream is None:
                    self._answer_error(Fault(None, re.compile(""), 500, "InternalError", None))
                    return
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                connection.close()
                if stall_body:
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self._stall()
                elif bytes_per_s and self.command != "HEAD":
                    piece = max(1, bytes_per_s // 10)
                    for start in range(0, len(payload), piece):
                        self.wfile.write(payload[start:start + piece])
                        self.wfile.flush()
                        time.sleep(0.1)
                elif self.command != "HEAD":
                    self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, *, method: str | None = None, path: str = "", status: int = 503, code: str = "SlowDown",
             times: int | None = None, skip: int = 0) -> None:
        """Answer matching requests (method, regex searched in the path and query) with this S3 error."""
        with self._lock:
            self.faults.append(Fault(method, re.compile(path), status, code, times, skip))

    def hang(self, *, method: str | None = None, path: str = "", times: int | None = None,
             mid_body: bool = False) -> None:
        """Take matching requests and never answer them (or stall halfway through the body) until exit."""
        with self._lock:
            self.faults.append(Fault(method, re.compile(path), 0, "", times, hang="body" if mid_body else "request"))

    def slow(self, *, method: str | None = None, path: str = "", bytes_per_s: int, times: int | None = None) -> None:
        """Forward matching requests, but trickle the answer's body at ``bytes_per_s`` (a slow link)."""
        with self._lock:
            self.faults.append(Fault(method, re.compile(path), 0, "", times, bytes_per_s=bytes_per_s))

    @property
    def hanging(self) -> int:
        """Handlers still holding a hung connection open."""
        with self._lock:
            return sum(1 for thread in self._hung if thread.is_alive())

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if (fault.method in (None, method)) and fault.path.search(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times is not None:
                    if fault.times == 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    def count(self, method: str | None = None, path: str = "") -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if method in (None, m) and re.search(path, p))

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._lock:
            hung = list(self._hung)
        for thread in hung:
            thread.join(timeout=5)
