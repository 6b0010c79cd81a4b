"""A small TCP proxy in front of a test server: adds latency, cuts connections, watches replies.

- ``delay``: seconds added in each direction (a chunk leaves ``delay`` after it arrived;
  bandwidth is not throttled), to stand for a server across the country.
- ``cut_after``: close a connection abruptly once that many bytes went from client to
  server on it, e.g. in the middle of an APPEND literal; only the first ``cuts`` such.
- ``on_reply``: called with each chunk from the server before it is forwarded; return
  False to swallow it (the proxy then closes that connection).
"""

from __future__ import annotations

import heapq
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Proxy"]


class Proxy:
    def __init__(
        self,
        target_port: int,
        *,
        listen: str = "127.0.0.1",
        delay: float = 0.0,
        cut_after: int | None = None,
        cuts: int = 1,
        on_reply: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.target_port = target_port
        self.delay = delay
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.on_reply = on_reply
        self.connections = 0
        self.cut_count = 0
        self._server = socket.create_server((listen, 0))
        self.port = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pumps = 0  # directions still forwarding
        self._sockets: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every connection so far has ended in both directions."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pumps == 0, timeout)

    def close(self) -> None:
        self._stopped = True
        self._server.close()
        with self._lock:
            for s in self._sockets:
                _close(s)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._pumps += 2
                self._sockets += [client, server]
            cut = self.cut_after
            pair = (client, server)
            threading.Thread(target=self._pump, args=(client, server, cut, None, pair), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(server, client, None, self.on_reply, pair), daemon=True
            ).start()

    def _pump(self, *args: Any) -> None:
        try:
            self._forward(*args)
        finally:
            with self._idle:
                self._pumps -= 1
                self._idle.notify_all()

    def _forward(
        self,
        src: socket.socket,
        dst: socket.socket,
        cut: int | None,
        watch: Callable[[bytes], bool] | None,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        queue: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        done = threading.Event()
        if self.delay:
            threading.Thread(
                target=self._send_later, args=(dst, queue, ready, done, pair), daemon=True
            ).start()
        passed = 0
        n = 0
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if cut is not None and passed + len(data) >= cut:
                    with self._lock:
                        cutting = self.cuts_left > 0
                        self.cuts_left -= cutting
                        self.cut_count += cutting
                    if cutting:
                        if data[: cut - passed]:
                            dst.sendall(data[: cut - passed])
                        break
                    cut = None
                passed += len(data)
                if watch is not None and not watch(data):
                    break
                if self.delay:
                    with ready:
                        n += 1
                        heapq.heappush(queue, (time.monotonic() + self.delay, n, data))
                        ready.notify()
                else:
                    dst.sendall(data)
        except OSError:
            pass
        if self.delay:
            with ready:
                done.set()
                ready.notify()
        else:
            for s in pair:
                _close(s)

    def _send_later(
        self,
        dst: socket.socket,
        queue: list[tuple[float, int, bytes]],
        ready: threading.Condition,
        done: threading.Event,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while True:
                with ready:
                    while not queue and not done.is_set():
                        ready.wait()
                    if not queue:
                        break
                    due, _n, data = heapq.heappop(queue)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        for s in pair:
            _close(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
