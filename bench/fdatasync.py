"""The disk's own pace: 200-byte appends with an fdatasync after each, and after every 64.
Usage: python3 bench/fdatasync.py [DIR]   (the same disk as the data dir)"""
import os, sys, tempfile, time

d = tempfile.mkdtemp(dir=sys.argv[1] if len(sys.argv) > 1 else None)
for every in (1, 64):
    path = os.path.join(d, f"f{every}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    n, body = 4096, b"x" * 200
    start = time.perf_counter()
    for i in range(1, n + 1):
        os.write(fd, body)
        if i % every == 0:
            os.fdatasync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    print(f"200 B append, fdatasync every {every:>2}: {n / elapsed:>9.0f} appends/s")
