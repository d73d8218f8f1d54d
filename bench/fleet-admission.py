#!/usr/bin/env python3
"""Latency of admit+release pairs through the sidecar, without and with `[fleet]` (Redis).

    python3 bench/fleet-admission.py [--bin target/release/autonomic] [--pairs 5000]

Starts a `redis-server` on a free 127.0.0.1 port (nothing saved), then, for each mode
(`local`: no [fleet] section; `fleet`: [fleet] on that Redis), starts `autonomic run` on
127.0.0.1 (port 0) with tenant `acme` on `enterprise` (10 000 concurrent requests) and sends
--pairs admit+release pairs, one after the other, over one keep-alive connection. Prints per
mode the count of each answer (200s and refusals, admit and release apart), the p50 and p99
of one pair in microseconds, and, in fleet mode, the fleet admissions read back from
/metrics, which must equal the 200s (else exit 1: it did not measure what it claims).
Bounded: 2 x --pairs pairs, then it stops the sidecars and Redis and removes its scratch dir.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(7) == b"+PONG\r\n"
    except OSError:
        return False


def start_sidecar(binary, scratch, name, fleet_port):
    d = os.path.join(scratch, name)
    os.makedirs(d)
    cfg = os.path.join(d, "config.toml")
    data = os.path.join(d, "data")
    with open(cfg, "w") as f:
        f.write('[[tenants]]\nid = "acme"\nsku = "enterprise"\n[sampler]\nenabled = false\n')
        if fleet_port:
            f.write(f'[fleet]\nredis = "redis://127.0.0.1:{fleet_port}"\n')
    log = open(os.path.join(d, "stderr.log"), "w")
    proc = subprocess.Popen(
        [binary, "run", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", data],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    addr_file = os.path.join(data, "listen.addr")

    def listening():
        if proc.poll() is not None:
            raise RuntimeError(f"sidecar exited: {open(log.name).read()}")
        return os.path.exists(addr_file) and open(addr_file).read().endswith("\n")

    wait_for(listening, 30, "the sidecar to listen")
    host, port = open(addr_file).read().strip().rsplit(":", 1)
    return proc, host, int(port)


def metrics_text(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def measure(host, port, pairs):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    body = b'{"resource":"requests","amount":1}'
    counts = {}
    times_us = []
    for _ in range(pairs):
        start = time.perf_counter()
        for op in ("admit", "release"):
            conn.request("POST", f"/v1/tenants/acme/{op}", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            key = f"{op} {response.status}"
            counts[key] = counts.get(key, 0) + 1
        times_us.append((time.perf_counter() - start) * 1e6)
    conn.close()
    times_us.sort()
    p = lambda q: times_us[min(len(times_us) - 1, int(q * len(times_us)))]
    return counts, p(0.50), p(0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/autonomic")
    ap.add_argument("--pairs", type=int, default=5000)
    args = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    scratch = tempfile.mkdtemp(prefix="fleet-admission.")
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [redis]
    failed = False
    try:
        wait_for(lambda: redis_ping(redis_port), 10, "redis-server")
        for mode, fleet_port in (("local", None), ("fleet", redis_port)):
            proc, host, port = start_sidecar(args.bin, scratch, mode, fleet_port)
            procs.append(proc)
            if fleet_port:
                wait_for(lambda: "autonomic_fleet_redis_up 1" in metrics_text(host, port), 10,
                         "the sidecar to reach redis")
            counts, p50, p99 = measure(host, port, args.pairs)
            answers = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            line = f"{mode}: pairs={args.pairs} {answers} p50_us={p50:.0f} p99_us={p99:.0f}"
            if fleet_port:
                m = re.search(r'^autonomic_fleet_admissions_total\{result="admitted"\} (\d+)$',
                              metrics_text(host, port), re.M)
                counted = int(m.group(1)) if m else -1
                line += f" fleet_admitted={counted}"
                failed |= counted != counts.get("admit 200", 0)
            print(line, flush=True)
            failed |= counts.get("admit 200", 0) != args.pairs
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    if failed:
        sys.exit("not every admission was a 200 counted where it should be: see above")


if __name__ == "__main__":
    main()
