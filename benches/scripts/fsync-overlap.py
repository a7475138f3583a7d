"""Does this disk overlap syncs? One thread doing pwrite + fdatasync of 256 bytes in a
loop, against two threads doing the same on one file (each in its own region), so
that a second sync is issued while the first is in flight: syncs a second, p50 and
p90 in µs, alternated three times. A journal that starts a batch's sync before the one
before it returns gains only if two in flight finish faster than two in a row.
Run from anywhere: python3 benches/scripts/fsync-overlap.py (file in /tmp).
"""
import os, statistics, threading, time

PATH = "/tmp/fsync-overlap.bin"
SYNCS = 3000  # a thread
SIZE = 256


def worker(fd, start, lat):
    buf = b"x" * SIZE
    for i in range(SYNCS):
        os.pwrite(fd, buf, start + i * SIZE)
        t = time.perf_counter_ns()
        os.fdatasync(fd)
        lat.append(time.perf_counter_ns() - t)


def run(fd, threads):
    lats = [[] for _ in range(threads)]
    region = 16 << 20
    ts = [threading.Thread(target=worker, args=(fd, i * region, lats[i])) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    all_ns = sorted(x for lat in lats for x in lat)
    return len(all_ns) / elapsed, statistics.median(all_ns) / 1e3, all_ns[int(len(all_ns) * 0.9)] / 1e3


fd = os.open(PATH, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"\0" * (64 << 20))  # preallocated: zeros written and synced, as the journal's segments
os.fsync(fd)
for _ in range(3):
    for threads in (1, 2):
        rate, p50, p90 = run(fd, threads)
        print(f"{threads} thread(s): {rate:8,.0f} syncs/s  p50 {p50:6.0f} us  p90 {p90:6.0f} us")
os.close(fd)
os.unlink(PATH)
