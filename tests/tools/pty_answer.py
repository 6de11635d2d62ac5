#!/usr/bin/env python3
"""Run a command on a terminal of its own and answer its prompts, as a
person at the keyboard would: each time the output shows REGEX, type the
contents of FILE (or nothing: "-") and Enter.

usage: pty_answer.py TRANSCRIPT TIMEOUT [REGEX FILE]... -- CMD [ARG]...

Exits with the command's exit status; 124 when TIMEOUT seconds passed.
The transcript holds everything the terminal showed."""
import os
import re
import select
import sys
import time


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    transcript, timeout, pairs, cmd = args[0], float(args[1]), args[2:sep], args[sep + 1:]
    answers = [(re.compile(pairs[i].encode()), pairs[i + 1]) for i in range(0, len(pairs), 2)]
    pid, fd = os.forkpty()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen, start, pos = b"", time.monotonic(), 0
    status = None
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            status = 124
            break
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            seen += data
        if answers:
            m = answers[0][0].search(seen, pos)
            if m:
                pos = m.end()
                path = answers.pop(0)[1]
                text = b"" if path == "-" else open(path, "rb").read().rstrip(b"\n")
                time.sleep(0.2)  # the prompt has turned echo off by now
                os.write(fd, text + b"\n")
    if status is None:
        _, st = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(st)
    with open(transcript, "wb") as f:
        f.write(seen)
    sys.exit(status if status >= 0 else 128 - status)


main()
