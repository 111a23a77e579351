"""How fast `mqcompare check` reads journals, against merely parsing them: a generated
3,000,000-record run (1,000,000 messages: invoke, ok, deliver), checked and parsed in
turn, each in a fresh process (for its own peak memory), `--rounds` times; medians.

Parse-only is orjson.loads of every line, and of each 4 MB batch as one array (what
the checker does); the faster of the two is the baseline of the ratio.

    .venv/bin/python bench/check_rate.py [--records 3000000] [--rounds 3]

Targets (issue 29): the checker at least half the parse-only rate, under 300 MB.
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

CHECK = """
import json, resource, sys, time
from mqcompare.checker import check_dirs
t = time.perf_counter()
result = check_dirs([sys.argv[1]])
elapsed = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"elapsed": elapsed, "rss_mb": rss_mb, "records": result["counts"]["unique"] * 3}))
"""

PARSE = """
import json, resource, sys, time
from pathlib import Path
import orjson
from mqcompare.journal import journal_files
loads, n = orjson.loads, 0
t = time.perf_counter()
for path in journal_files(sys.argv[1]):
    rest = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            lines = (rest + chunk).split(b"\\n")
            rest = lines.pop()
            if sys.argv[2] == "lines":
                for line in lines:
                    loads(line)
            else:
                loads(b"[" + b",".join(lines) + b"]")
            n += len(lines)
elapsed = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"elapsed": elapsed, "rss_mb": rss_mb, "records": n - 3}))  # 3 headers
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


def measure(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"check": [], "lines": [], "batches": []}
    peak: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        records = generate(Path(tmp), args.records // 3)
        size_mb = sum(f.stat().st_size for f in Path(tmp, "journal").iterdir()) / 1e6
        print(f"{records:,} records, {size_mb:,.0f} MB of journals", flush=True)
        for i in range(args.rounds):
            line = []
            for what in rates:
                m = measure(CHECK, tmp) if what == "check" else measure(PARSE, tmp, what)
                assert m["records"] == records, (what, m["records"])
                rates[what].append(records / m["elapsed"])
                peak[what] = max(peak.get(what, 0.0), m["rss_mb"])
                line.append(f"{what} {rates[what][-1]:,.0f}/s ({m['rss_mb']:,.0f} MB)")
            print(f"round {i + 1}: " + ", ".join(line), flush=True)
    check = statistics.median(rates["check"])
    parse = max(statistics.median(rates["lines"]), statistics.median(rates["batches"]))
    print(
        f"median records/s: mqcompare check {check:,.0f}, orjson parse only "
        f"{statistics.median(rates['lines']):,.0f} by line, "
        f"{statistics.median(rates['batches']):,.0f} by batch"
    )
    print(
        f"check / parse = {check / parse:.2f} (target >= 0.5); check's peak memory "
        f"{peak['check']:,.0f} MB for {records:,} records (target < 300 MB; parse only "
        f"{max(peak['lines'], peak['batches']):,.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
