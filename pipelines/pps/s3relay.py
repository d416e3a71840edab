"""The S3 relay in front of a datum's command (standard library only: it runs inside the
sandbox as `python3 -I -S s3relay.py --unix SOCKET --port PORT -- CMD...`).

It listens on 127.0.0.1:PORT (the datum's own loopback in its network namespace; 0: any
free port, where datums share the host's), carries each connection to the gateway's Unix
socket, and runs CMD as its child with S3_ENDPOINT=http://127.0.0.1:<port> added (a worker's
S3_ENDPOINT has no trailing slash either). It exits with CMD's status; a CMD killed by a
signal ends it by the same signal, so the engine sees what it would without the relay.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relay(conn: socket.socket, target: str) -> None:
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(target)
    except OSError as e:
        print(f"s3relay: cannot reach the S3 gateway: {e.strerror or e}", file=sys.stderr)
        conn.close()
        up.close()
        return
    back = threading.Thread(target=_pipe, args=(up, conn), daemon=True)
    back.start()
    _pipe(conn, up)
    back.join()
    conn.close()
    up.close()


def _serve(listener: socket.socket, target: str) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_relay, args=(conn, target), daemon=True).start()


def main(argv: list[str]) -> int:
    if "--" not in argv or argv[:1] != ["--unix"] or argv[2:3] != ["--port"] or argv.index("--") != 4:
        print("usage: s3relay.py --unix SOCKET --port PORT -- CMD...", file=sys.stderr)
        return 2
    path, port, cmd = argv[1], int(argv[3]), argv[5:]
    # the socket's folder held open: its path may be longer than a socket address takes
    folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    target = f"/proc/self/fd/{folder}/{os.path.basename(path)}"
    listener = socket.create_server(("127.0.0.1", port))
    env = dict(os.environ, S3_ENDPOINT=f"http://127.0.0.1:{listener.getsockname()[1]}")
    threading.Thread(target=_serve, args=(listener, target), daemon=True).start()
    try:
        child = subprocess.Popen(cmd, env=env)
    except OSError as e:
        print(f"{cmd[0] if cmd else 's3relay'}: {e.strerror or e}", file=sys.stderr)
        return 127
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    rc = child.wait()
    if rc < 0:  # end as the command ended
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
        return 128 - rc
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
