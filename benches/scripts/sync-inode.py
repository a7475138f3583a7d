"""What the inode's write costs a journal sync. On ext4 without a journal, `fdatasync`
also writes the file's inode block whenever the write before it moved the file's
modification time, a synchronous 4 KiB write before the cache flush. This loop does
what the demo's journal does (a 300-byte record into a preallocated segment, synced,
then 1 ms of quiet: ~800 syncs a second) two ways, alternated twice:
- `write` + `fdatasync` of the segment (what the journal does);
- `write` + `sync_file_range` of the written range + `fdatasync` of a clean file,
  which flushes the device's cache without writing the segment's inode.
It prints p50/p90/p99 in µs. Count the block requests a sync with
`perf stat -a -e block:block_rq_issue -e ext4:ext4_sync_file_enter -- python3 ...`.
Run from the repository: python3 benches/scripts/sync-inode.py (files in target/).
"""
import ctypes, os, time

libc = ctypes.CDLL("libc.so.6", use_errno=True)
# SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
WRITE_AND_WAIT = 1 | 2 | 4
SYNCS = 2000
RECORD = b"x" * 300
PAUSE = 0.001
os.makedirs("target", exist_ok=True)
SEGMENT = "target/sync-inode.seg"
CLEAN = "target/sync-inode.clean"


def prepare():
    fd = os.open(SEGMENT, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    zeros = b"\0" * (1 << 20)
    for _ in range(64):
        os.write(fd, zeros)  # preallocated: zeros written and synced, as the journal's segments
    os.fsync(fd)
    os.close(fd)
    fd = os.open(CLEAN, os.O_CREAT | os.O_WRONLY, 0o644)
    os.fsync(fd)
    os.close(fd)


def run(name, flush_only):
    prepare()
    fd = os.open(SEGMENT, os.O_WRONLY)
    clean = os.open(CLEAN, os.O_RDONLY)
    lat = []
    for i in range(SYNCS):
        off = i * len(RECORD)
        t = time.perf_counter_ns()
        os.pwrite(fd, RECORD, off)
        if flush_only:
            if libc.sync_file_range(fd, ctypes.c_long(off), ctypes.c_long(len(RECORD)), WRITE_AND_WAIT):
                raise OSError(ctypes.get_errno(), "sync_file_range")
            os.fdatasync(clean)
        else:
            os.fdatasync(fd)
        lat.append(time.perf_counter_ns() - t)
        time.sleep(PAUSE)
    os.close(fd)
    os.close(clean)
    lat.sort()
    q = lambda p: lat[int(len(lat) * p)] / 1e3
    print(f"{name:44s} p50 {q(0.5):5.0f} µs  p90 {q(0.9):5.0f} µs  p99 {q(0.99):5.0f} µs", flush=True)


for _ in range(2):
    run("write + fdatasync", False)
    run("write + sync_file_range + flush (clean file)", True)
os.unlink(SEGMENT)
os.unlink(CLEAN)
