"""How fast `mqcompare check` reads journals: a generated 3,000,000-record run (1,000,000
messages: invoke, ok, deliver), checked in a fresh process each round for peak memory.

    .venv/bin/python bench/check_rate.py [--records 3000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

CHILD = """
import json, resource, sys, time
from mqcompare.checker import check_dirs
t = time.perf_counter()
result = check_dirs([sys.argv[1]])
elapsed = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"elapsed": elapsed, "rss_mb": rss_mb, "unique": result["counts"]["unique"]}))
"""


def generate(d: Path, messages: int, producers: int = 10) -> int:
    """A run's journals: one producer file, two consumer files (a consumer restart)."""
    jd = d / "journal"
    jd.mkdir(parents=True)

    def head(role: str) -> bytes:
        return (
            orjson.dumps(
                {
                    "ev": "header",
                    "format": "mqcompare.journal/1",
                    "role": role,
                    "pid": 1,
                    "run_id": "bench",
                }
            )
            + b"\n"
        )

    t0 = 1.8e9
    with open(jd / "producer.jsonl", "wb") as f:
        f.write(head("producer"))
        for i in range(messages):
            p, s, t = i % producers, i // producers, t0 + i * 1e-4
            f.write(orjson.dumps({"ev": "invoke", "p": p, "s": s, "t": t}) + b"\n")
            f.write(orjson.dumps({"ev": "ok", "p": p, "s": s, "t": t + 1e-3}) + b"\n")
    half = messages // 2
    for n, (lo, hi) in enumerate(((0, half), (half, messages))):
        with open(jd / f"consumer-{n}.jsonl", "wb") as f:
            f.write(head("consumer"))
            for i in range(lo, hi):
                p, s, t = i % producers, i // producers, t0 + i * 1e-4
                f.write(
                    orjson.dumps(
                        {
                            "ev": "deliver",
                            "p": p,
                            "s": s,
                            "t": t + 2e-3,
                            "sent": t,
                            "redelivered": False,
                        }
                    )
                    + b"\n"
                )
    return 3 * messages


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        records = generate(Path(tmp), args.records // 3)
        size_mb = sum(f.stat().st_size for f in Path(tmp, "journal").iterdir()) / 1e6
        rates, rss = [], []
        for i in range(args.rounds):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, tmp], capture_output=True, text=True, check=True
            ).stdout
            m = json.loads(out)
            assert m["unique"] == records // 3
            rates.append(records / m["elapsed"])
            rss.append(m["rss_mb"])
            print(
                f"round {i + 1}: {records:,} records ({size_mb:,.0f} MB) in "
                f"{m['elapsed']:.2f} s = {rates[-1]:,.0f} records/s, peak {m['rss_mb']:,.0f} MB",
                flush=True,
            )
    print(
        f"mqcompare check: median {statistics.median(rates):,.0f} records/s on one core "
        f"(target >= 500,000), peak memory {max(rss):,.0f} MB (target < 1024 MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
