"""Fail fast on an endpoint nobody answers at: a closed port, a name that does not resolve, a host that
never accepts the connection.

Each such attempt is a connection-level failure; any answer at all from the server (an error status,
a malformed body, a read timeout after connecting) proves the endpoint is there and ends the streak. After
`UNREACHABLE_AFTER` connection failures in a row, across the model's requests, spanning at least
`UNREACHABLE_SPAN_S` (so one instant burst of refusals during a restart is not enough), the model stops
with one FatalModelError naming the model, the URL and the cause, instead of retrying every request for
minutes and filling the partition with failed rows.

The providers wrap transport errors in ProviderError; the original exception stays on the chain
(`__context__`), which is where the cause is read. The OpenAI SDK's aiohttp transport reports even a
refused connection as a "timeout", so the chain, not the SDK's class, decides.
"""

from __future__ import annotations

import errno
import socket
import time

from .types import FatalModelError

UNREACHABLE_AFTER = 5
UNREACHABLE_SPAN_S = 1.0

# Exception class names (anywhere on the chain, any base class) that mean "never connected".
_CONNECT_FAILURES = {"ClientConnectorError", "ClientConnectorDNSError", "ConnectionTimeoutError"}
_CONNECT_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


def _chain(err: BaseException):
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def connection_failure(err: BaseException | None) -> BaseException | None:
    """The root cause if `err` means the endpoint could not be connected to at all, else None."""
    if err is None or getattr(err, "status", None) is not None:
        return None
    found = None
    for e in _chain(err):
        names = {c.__name__ for c in type(e).__mro__}
        module = type(e).__module__
        if (names & _CONNECT_FAILURES or isinstance(e, (ConnectionRefusedError, socket.gaierror))
                or (isinstance(e, OSError) and e.errno in _CONNECT_ERRNOS)
                or (module.startswith("httpcore") and names & {"ConnectError", "ConnectTimeout"})):
            found = e  # keep walking: the deepest cause reads best
    return found


class Reachability:
    """Counts one model's consecutive connection failures; `observe` raises when the endpoint is down."""

    def __init__(self, model: str, url: str, after: int = UNREACHABLE_AFTER,
                 span_s: float = UNREACHABLE_SPAN_S):
        self.model, self.url = model, url
        self.after, self.span_s = after, span_s
        self.streak = 0
        self.since = 0.0

    def observe(self, err: BaseException | None) -> None:
        cause = connection_failure(err)
        if cause is None:
            self.streak = 0
            return
        now = time.monotonic()
        if self.streak == 0:
            self.since = now
        self.streak += 1
        if self.streak >= self.after and now - self.since >= self.span_s:
            raise FatalModelError(
                f"model {self.model}: cannot reach {self.url}: {self.streak} connection attempts in a row "
                f"failed over {now - self.since:.1f} s ({type(cause).__name__}: {cause})")
