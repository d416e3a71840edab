"""Run a command and print its peak RSS in KiB on the last line of stderr.

A child's ru_maxrss starts from what its parent had resident when it forked (the kernel
records the old address space's high-water mark at exec), so a benchmark script that
holds hundreds of MB would report that for every child. This launcher is small: what it
reports is the command's own peak (and its descendants'), floored at ~10 MB."""
import os
import subprocess
import sys

if __name__ == "__main__":
    p = subprocess.Popen(sys.argv[1:])
    _, status, ru = os.wait4(p.pid, 0)
    print(f"peak-rss-kib {ru.ru_maxrss}", file=sys.stderr)
    sys.exit(os.waitstatus_to_exitcode(status))
