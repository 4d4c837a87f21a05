"""Turns the measurements of bench/run.sh into the table of medians, ratios and targets.

Reads results.tsv (one row per tool, phase and run) and meta.txt (key, tab, value), prints the
report as Markdown and writes it to --out.
"""

import argparse
import csv
import statistics
import sys

TOOLS = ["floor", "feedcorpus", "newsboat", "reader"]
PHASES = ["cold", "warm", "churn"]
PHASE_TEXT = {"cold": "cold (all new)", "warm": "warm (2nd poll)", "churn": "churn (+K/feed)"}


def load(results_path, meta_path):
    with open(results_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    meta = {}
    with open(meta_path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    return rows, meta


def fnum(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class Cell:
    """The medians of one (N, tool, phase) over its runs."""

    def __init__(self, rows):
        self.runs = len(rows)
        self.wall = statistics.median(fnum(r["wall"]) for r in rows)
        self.cpu = statistics.median(fnum(r["user"]) + fnum(r["sys"]) for r in rows)
        self.rss_mb = statistics.median(fnum(r["rss_kb"]) / 1024 for r in rows)
        self.http_ok = statistics.median(int(r["http_ok"]) for r in rows)
        self.http_304 = statistics.median(int(r["http_304"]) for r in rows)
        self.http_mb = statistics.median(int(r["http_bytes"]) / 1e6 for r in rows)
        self.verified = all(r["verified"] == "1" for r in rows)
        self.expected = rows[0]["expected"]
        entries = {r["entries"] for r in rows}
        self.entries = entries.pop() if len(entries) == 1 else "/".join(sorted(entries))
        records = {r["records"] for r in rows}
        self.records = records.pop() if len(records) == 1 else "/".join(sorted(records))


def cells(rows):
    grouped = {}
    for r in rows:
        grouped.setdefault((int(r["n"]), r["tool"], r["phase"]), []).append(r)
    return {k: Cell(v) for k, v in grouped.items()}


def s(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def secs(x):
    """Seconds with three significant decimals below 10 s."""
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def rx(x):
    return "–" if x is None else f"{x:.1f}×"


def http_text(c):
    parts = []
    if c.http_ok:
        parts.append(f"{c.http_ok:g} full ({c.http_mb:.0f} MB)")
    if c.http_304:
        parts.append(f"{c.http_304:g} not modified")
    return ", ".join(parts) or "none"


def verified_text(tool, c):
    if tool == "floor":
        body = f"{c.http_ok + c.http_304:g}/{c.expected} responses"
    elif tool.startswith("feedcorpus"):
        body = f"{c.entries} entries, {c.records} records /{c.expected}"
    else:
        body = f"{c.entries}/{c.expected} entries"
    return ("✓ " if c.verified else "✗ ") + body


def report(rows, meta):
    cs = cells(rows)
    ns = sorted({k[0] for k in cs})
    tools = [t for t in TOOLS if any(k[1] == t for k in cs)]
    # --database postgres: feedcorpus on PostgreSQL with K instances, after feedcorpus.
    pg = sorted({k[1] for k in cs if k[1].startswith("feedcorpus-pg")}, key=lambda t: int(t[13:]))
    if pg:
        at = tools.index("feedcorpus") + 1 if "feedcorpus" in tools else len(tools)
        tools[at:at] = pg
    out = []
    w = out.append
    items = meta.get("items", "?")
    w(f"# feedcorpus bench — {meta.get('date', '?')}")
    w("")
    w(
        f"- machine: {meta.get('cpu', '?')}, {meta.get('mem', '?')} RAM, {meta.get('host', '?')}; "
        f"load average at the start {meta.get('load', '?')}"
    )
    w(f"- feedcorpus {meta.get('commit', '?')}, {meta.get('rustc', '?')}, release build")
    w(
        f"- farm: N feeds × {items} items (half RSS 2.0 WordPress-style, half Atom), "
        f"churn {meta.get('churn', '?')} new items per feed, seed {meta.get('seed', '?')}, "
        f"gzip {'on' if meta.get('gzip') == '1' else 'off'}, "
        f"syndicated {meta.get('syndicated', '0')} % of items; "
        f"concurrency {meta.get('concurrency', '?')} for feedcorpus and the floor"
    )
    if meta.get("database") == "postgres":
        w(
            f"- PostgreSQL {meta.get('postgres', '?')} on the same machine (Unix socket, fsync on, "
            f"synchronous_commit off): `feedcorpus-pgK` = K `poll`s started together on one "
            f"database and one corpus folder (they split each round); peak RSS is the largest "
            f"instance's; CPU is the instances' (the server's is in the profile below)"
        )
    if meta.get("peers") == "1":
        w(
            f"- peers: newsboat {meta.get('newsboat', '?')} (`-x reload`, reload-threads "
            f"{meta.get('peer_workers', '?')}), reader {meta.get('reader', '?')} "
            f"(`update_feeds(scheduled=False, workers={meta.get('peer_workers', '?')})`)"
        )
    w(
        f"- medians of {meta.get('runs', '?')} runs; wall and CPU (user+sys) in seconds, peak RSS "
        "from `/usr/bin/time -v`; warm = a second poll right after cold; churn = a poll after "
        "every feed got K new items"
    )
    w("")
    for n in ns:
        xml = fnum(meta.get(f"xml_bytes_{n}"))
        size = f", {xml / 1e6:.0f} MB of feed XML" if xml else ""
        entries = f"{n * int(items):,}" if items.isdigit() else "?"
        w(f"## N = {n:,} feeds × {items} items ({entries} entries{size})")
        w("")
        w("| tool | poll | wall s | CPU s | peak RSS MB | responses | verified after | wall ÷ floor |")
        w("| --- | --- | ---: | ---: | ---: | --- | --- | ---: |")
        for t in tools:
            for p in PHASES:
                c = cs.get((n, t, p))
                if c is None:
                    continue
                floor = cs.get((n, "floor", p))
                fr = "" if t == "floor" else rx(ratio(c.wall, floor.wall if floor else None))
                w(
                    f"| {t} | {PHASE_TEXT[p]} | {secs(c.wall)} | {s(c.cpu)} | {s(c.rss_mb, 1)} | "
                    f"{http_text(c)} | {verified_text(t, c)} | {fr} |"
                )
        w("")
        w("| wall-time ratio | cold | warm | churn |")
        w("| --- | ---: | ---: | ---: |")
        pairs = [("feedcorpus", "floor")]
        pairs += [(t, "feedcorpus") for t in tools if t.startswith("feedcorpus-pg")]
        pairs += [(peer, "feedcorpus") for peer in ("newsboat", "reader") if peer in tools]
        for a, b in pairs:
            vals = []
            for p in PHASES:
                ca, cb = cs.get((n, a, p)), cs.get((n, b, p))
                vals.append(rx(ratio(ca.wall if ca else None, cb.wall if cb else None)))
            w(f"| {a} ÷ {b} | " + " | ".join(vals) + " |")
        fc = cs.get((n, "feedcorpus", "cold"))
        if fc and fc.wall:
            w("")
            w(f"feedcorpus cold: {int(fc.expected) / fc.wall:,.0f} entries/s ingested.")
        idle = fnum(meta.get(f"idle_rss_kb_{n}"))
        if idle:
            hwm = fnum(meta.get(f"idle_hwm_kb_{n}"))
            w(
                f"Idle daemon (`feedcorpus run`, {n} feeds, after its first round): "
                f"VmRSS {idle / 1024:.1f} MB (high-water {s(hwm / 1024 if hwm else None, 1)} MB)."
            )
        w("")

    lo, hi = (ns[0], ns[-1]) if ns else (None, None)
    if lo is not None and hi != lo:
        w(f"## Linearity: N = {hi} ÷ N = {lo} (wall; proportional would be {hi / lo:g}×)")
        w("")
        w("| tool | cold | warm | churn |")
        w("| --- | ---: | ---: | ---: |")
        for t in tools:
            vals = []
            for p in PHASES:
                a, b = cs.get((hi, t, p)), cs.get((lo, t, p))
                vals.append(rx(ratio(a.wall if a else None, b.wall if b else None)))
            w(f"| {t} | " + " | ".join(vals) + " |")
        w("")

    if hi is not None:
        w(f"## Targets (N = {hi})")
        w("")
        w("| target | measured | |")
        w("| --- | ---: | --- |")

        def target(text, value, ok, fmt=rx):
            status = "–" if value is None else ("pass" if ok(value) else "MISS")
            w(f"| {text} | {fmt(value) if value is not None else '–'} | {status} |")

        def wall(tool, phase, n=hi):
            c = cs.get((n, tool, phase))
            return c.wall if c else None

        target("cold ≤ 3× floor", ratio(wall("feedcorpus", "cold"), wall("floor", "cold")), lambda v: v <= 3)
        fc = cs.get((hi, "feedcorpus", "cold"))
        eps = int(fc.expected) / fc.wall if fc and fc.wall else None
        target("cold ≥ 12,000 entries/s", eps, lambda v: v >= 12000, lambda v: f"{v:,.0f}/s")
        if "newsboat" in tools:
            target("cold ≥ 10× faster than newsboat", ratio(wall("newsboat", "cold"), wall("feedcorpus", "cold")), lambda v: v >= 10)
        if "reader" in tools:
            target("cold ≥ 20× faster than reader", ratio(wall("reader", "cold"), wall("feedcorpus", "cold")), lambda v: v >= 20)
        target("warm ≤ 2× floor (all-304 floor)", ratio(wall("feedcorpus", "warm"), wall("floor", "warm")), lambda v: v <= 2)
        target(
            "peak RSS ≤ 64 MB, cold",
            fc.rss_mb if fc else None,
            lambda v: v <= 64,
            lambda v: f"{v:.1f} MB",
        )
        idle = fnum(meta.get(f"idle_rss_kb_{hi}"))
        target(
            f"idle daemon with {hi} feeds ≤ 20 MB RSS",
            idle / 1024 if idle else None,
            lambda v: v <= 20,
            lambda v: f"{v:.1f} MB",
        )
        if lo is not None and hi != lo:
            limit = 1.1 * hi / lo
            for p in PHASES:
                target(
                    f"{p}: N={hi} ≤ {limit:g}× N={lo}",
                    ratio(wall("feedcorpus", p), wall("feedcorpus", p, lo)),
                    lambda v, limit=limit: v <= limit,
                )
        w("")
    bad = [r for r in rows if r["verified"] != "1"]
    if bad:
        w("**Not verified:** " + "; ".join(f"{r['tool']} {r['phase']} N={r['n']} run {r['run']} ({r['entries']}/{r['expected']})" for r in bad))
        w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows, meta = load(args.results, args.meta)
    if not rows:
        print("no measurements", file=sys.stderr)
        return 1
    text = report(rows, meta)
    print(text)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
