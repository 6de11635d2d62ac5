#!/usr/bin/env python3
"""A person at the serial console: type.py SOCK LOG TIMEOUT [ERE FILE]...

Connects to QEMU's serial socket; each time the console log (LOG) shows
ERE, after where the previous ERE matched, types FILE's content (without
its trailing newline; "-" for nothing) and Enter. Ends when the socket
closes or TIMEOUT seconds passed.

The socket is read all the time, by a thread of its own: QEMU's UART writes
a byte at a time, a stalled reader fills the socket within a few hundred
bytes, and the 16550 model then drops what it could not send (it gives up
after a few retries), from the console log too."""
import os
import re
import socket
import sys
import threading
import time


def main():
    sock, log, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    pairs = sys.argv[4:]
    todo = [(re.compile(pairs[i].encode()), pairs[i + 1]) for i in range(0, len(pairs), 2)]
    end = time.monotonic() + timeout
    s = None
    while time.monotonic() < end and s is None:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
        except OSError:
            s = None
            time.sleep(0.1)
    if s is None:
        sys.exit(1)
    closed = threading.Event()

    def drain():
        while True:
            try:
                if s.recv(65536) == b"":
                    break  # QEMU is gone
            except OSError:
                break
        closed.set()

    threading.Thread(target=drain, daemon=True).start()
    pos = 0
    while todo and time.monotonic() < end and not closed.is_set():
        try:
            with open(log, "rb") as f:
                seen = f.read().replace(b"\r", b"")
        except OSError:
            seen = b""
        m = todo[0][0].search(seen, pos)
        if not m:
            time.sleep(0.2)
            continue
        pos = m.end()
        path = todo.pop(0)[1]
        text = b"" if path == "-" else open(path, "rb").read().rstrip(b"\n")
        # the prompt reads with echo off once the console is quiet: an agent
        # that is still drawing (or a log line that redraws it) eats keys
        quiet_since, size = time.monotonic(), os.path.getsize(log)
        limit = time.monotonic() + 5
        while time.monotonic() < limit and time.monotonic() - quiet_since < 1.0:
            time.sleep(0.1)
            now = os.path.getsize(log)
            if now != size:
                quiet_since, size = time.monotonic(), now
        try:
            for b in text + b"\r":
                s.sendall(bytes([b]))
                time.sleep(0.002)
        except OSError:
            break
    # everything typed: go on reading, so the rest of the boot is logged whole
    closed.wait(max(0.0, end - time.monotonic()))
    s.close()


main()
