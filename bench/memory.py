#!/usr/bin/env python3
"""Resident memory of the sidecar, idle and with N active tenants that all sent signals.

    python3 bench/memory.py [--bin target/release/autonomic] [--tenants 100000] [--dedup-ids N]
                            [--batch 10000]

Starts `autonomic run` on 127.0.0.1 (port 0) with `max_tenants = N` and `fsync = "batch"`,
reads VmRSS when idle, activates N tenants (one POST each, over keep-alive connections), sends
each one signal (batches of --batch signals per request, default 10 000), then reads VmRSS and VmHWM again. It checks what it claims:
the tenant count, the governed/duplicate/refused signal counts and the receipts appended, all
read back from /metrics, must match what was sent; otherwise it exits 1. It stops the sidecar
and removes its scratch dir on exit. Bounded: one pass, at most N + N/batch requests.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

WORKERS = 4


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def metric(text, name, labels=""):
    pattern = re.escape(name + labels) + r" (\d+)"
    m = re.search(r"^" + pattern + r"$", text, re.M)
    return int(m.group(1)) if m else 0


def post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def activate(addr, ids, failures):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    for tenant in ids:
        status, data = post(conn, f"/v1/tenants/{tenant}/activate", b'{"sku":"pro"}')
        if status != 200:
            failures.append((tenant, status, data[:200]))
            return
    conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="target/release/autonomic")
    p.add_argument("--tenants", type=int, default=100_000)
    p.add_argument("--dedup-ids", type=int, default=None)
    p.add_argument("--batch", type=int, default=10_000)
    args = p.parse_args()
    n = args.tenants
    scratch = tempfile.mkdtemp(prefix="autonomic-memory.")
    data_dir = os.path.join(scratch, "data")
    config = os.path.join(scratch, "autonomic.toml")
    with open(config, "w") as f:
        f.write(f'listen = "127.0.0.1:0"\ndata_dir = "{data_dir}"\nfsync = "batch"\n')
        f.write(f"max_tenants = {n}\n")
        if args.dedup_ids:
            f.write(f"dedup_ids = {args.dedup_ids}\n")
        f.write("[sampler]\nenabled = false\n")
    proc = subprocess.Popen([args.bin, "run", "--config", config],
                            stderr=open(os.path.join(scratch, "run.log"), "w"))
    try:
        addr_file = os.path.join(data_dir, "listen.addr")
        for _ in range(200):
            if os.path.exists(addr_file) and os.path.getsize(addr_file) > 0:
                break
            time.sleep(0.05)
        addr = open(addr_file).read().strip()
        time.sleep(1.0)
        idle = rss_kib(proc.pid)

        ids = [f"tenant-{i:09d}" for i in range(n)]  # 16-byte ids
        failures = []
        t0 = time.monotonic()
        threads = [threading.Thread(target=activate, args=(addr, ids[w::WORKERS], failures))
                   for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            print(f"activation failed: {failures[:3]}", file=sys.stderr)
            return 1
        activated_s = time.monotonic() - t0

        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        now_ms = int(time.time() * 1000)
        sent = 0
        batch_size = args.batch
        for start in range(0, n, batch_size):
            batch = [{"tenant": t, "metric": "cpu", "value": 50.0, "ts_ms": now_ms}
                     for t in ids[start:start + batch_size]]
            status, data = post(conn, "/v1/signals", json.dumps(batch).encode())
            if status != 200:
                print(f"signals: HTTP {status}: {data[:200]}", file=sys.stderr)
                return 1
            sent += len(batch)
        time.sleep(0.5)
        loaded = rss_kib(proc.pid)
        peak = rss_kib(proc.pid, "VmHWM")
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()

        tenants = metric(text, "autonomic_table_used", '{table="tenants"}')
        governed = metric(text, "autonomic_signals_total", '{result="governed"}')
        duplicate = metric(text, "autonomic_signals_total", '{result="duplicate"}')
        refused = sum(int(v) for k, v in re.findall(
            r'^autonomic_signals_total\{result="([a-z_]+)"\} (\d+)$', text, re.M)
            if k not in ("governed", "duplicate"))
        receipts = metric(text, "autonomic_receipts_total")
        evictions = metric(text, "autonomic_dedup_evictions_total")
        print(f"tenants={n} activated={tenants} activate_s={activated_s:.1f} "
              f"signals_sent={sent} governed={governed} duplicate={duplicate} refused={refused} "
              f"receipts={receipts} dedup_evictions={evictions} batch={batch_size}")
        print(f"rss_idle_mib={idle / 1024:.1f} rss_loaded_mib={loaded / 1024:.1f} "
              f"rss_peak_mib={peak / 1024:.1f}")
        # Every tenant activated (one receipt each) and every signal governed once; a 50 %
        # signal changes no governor state, so it appends no receipt.
        ok = tenants == n and governed == sent and duplicate == 0 and refused == 0 \
            and receipts == n
        if not ok:
            print("MISMATCH: the counts above are not what was sent", file=sys.stderr)
            return 1
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
