"""Starting the server: the socket bound first (a port in use is exit 2, not a log line), then uvicorn.

Binding before uvicorn starts lets ``--port 0`` take a free port and say which one in the start line,
which tests and scripts read instead of guessing a free port and racing for it.
"""

from __future__ import annotations

import errno
import socket
import sys

from dlnotes.errors import UserError
from dlnotes.serve.limits import LIMITS

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port); ``UserError`` when it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise UserError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        why = "in use; choose another port (--port 0: any free one)" if e.errno == errno.EADDRINUSE else e.strerror
        raise UserError(f"--host {host} --port {port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve_forever(served: dict, host: str, port: int, access_log: bool = False) -> None:
    """Serves ``served`` (name -> ``Served``) until Ctrl-C or SIGTERM; one start line on stderr first."""
    import uvicorn

    from dlnotes.serve.app import create_app

    sock = bind(host, port)
    app = create_app(served)
    config = uvicorn.Config(app, log_level="warning", access_log=access_log, limit_concurrency=LIMITS.in_flight,
                            timeout_keep_alive=5, server_header=False)
    names = ", ".join(f"{n} ({s.info['model']}, {s.info['task']})" for n, s in served.items())
    print(f"serving {names} at {url(sock)} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if host not in LOOPBACK:
        print(f"warning: --host {host} lets other machines reach the server, which has no authentication",
              file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])
