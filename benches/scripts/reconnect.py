#!/usr/bin/env python3
"""Reconnect figure (SPEC R23c, issue #11): a running openline server on PostgreSQL gets
writes from N client threads, back to back; meanwhile every session of its database except
the store lock's is terminated K times (as a database failover or network fault would).
Prints one JSON line: requests, 2xx, 503s, other failures, latency p50/p99/max overall, and
the worst latency of requests sent within 1 s after each fault.

    python3 benches/scripts/reconnect.py --port 8080 --db openline --faults 5

The server must run with `[store] url = "postgres://…/DB"` and no token (local mode).
"""
import argparse, json, subprocess, threading, time, urllib.request, urllib.error

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True, help="the server's database name")
    p.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--faults", type=int, default=5)
    p.add_argument("--every", type=float, default=2.0, help="seconds between faults")
    a = p.parse_args()
    stop = threading.Event()
    samples = []  # (sent_at, seconds, status)
    lock = threading.Lock()

    def client(n):
        i = 0
        while not stop.is_set():
            body = json.dumps({"name": f"r{n}-{i}"}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{a.port}/v1/agents/r{n}-{i}",
                                         data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except Exception:
                status = 0
            with lock:
                samples.append((t0, time.monotonic() - t0, status))
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(a.threads)]
    for t in threads:
        t.start()
    faults = []
    time.sleep(a.every)
    sql = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
           f"'{a.db}' AND pid <> pg_backend_pid() AND pid NOT IN (SELECT pid FROM pg_locks "
           "WHERE locktype = 'advisory' AND granted)")
    for _ in range(a.faults):
        faults.append(time.monotonic())
        subprocess.run(["psql", a.admin, "-qAtc", sql], check=True, capture_output=True)
        time.sleep(a.every)
    stop.set()
    for t in threads:
        t.join()
    lat = sorted(s[1] for s in samples)
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)
    after = [max((s[1] for s in samples if f <= s[0] < f + 1.0), default=0) for f in faults]
    print(json.dumps({
        "requests": len(samples),
        "ok": sum(1 for s in samples if 200 <= s[2] < 300),
        "unavailable_503": sum(1 for s in samples if s[2] == 503),
        "other_failures": sum(1 for s in samples if s[2] != 503 and not 200 <= s[2] < 300),
        "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 2),
        "worst_ms_within_1s_of_each_fault": [round(x * 1000, 2) for x in after],
    }))

if __name__ == "__main__":
    main()
