"""Turns the measurements of bench/run.sh into the table of medians, ratios and targets.

Reads results.tsv (one row per tool, phase and run) and meta.txt (key, tab, value), prints the
report as Markdown and writes it to --out.
"""

import argparse
import csv
import statistics
import sys

TOOLS = ["floor", "feedcorpus", "feedcorpus-before", "newsboat", "reader"]
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
    if meta.get("before"):
        w(f"- feedcorpus-before: {meta['before']}, the same phases on its own database and corpus")
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
        pairs += [(peer, "feedcorpus") for peer in ("feedcorpus-before", "newsboat", "reader") if peer in tools]
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
        fc = cs.get((n, "feedcorpus", "cold"))
        if fc and fc.wall and fc.cpu:
            w(f"feedcorpus cold: {1000 * fc.cpu / int(fc.expected):.3f} ms of CPU per entry.")
        disk = disk_rows(meta, n, tools)
        if disk:
            w("")
            w("| on disk after cold | database MB | corpus MB | total MB | normalized text MB | database ÷ text |")
            w("| --- | ---: | ---: | ---: | ---: | ---: |")
            out.extend(disk)
            shares = sorted(
                ((k.split("_", 3)[3], fnum(v)) for k, v in meta.items() if k.startswith(f"dbstat_{n}_feedcorpus_")),
                key=lambda kv: -(kv[1] or 0),
            )
            if shares:
                w("")
                w("feedcorpus database by table and index (dbstat): " + ", ".join(f"{name} {b / 1e6:.1f} MB" for name, b in shares if b))
        idle = fnum(meta.get(f"idle_rss_kb_{n}"))
        if idle:
            hwm = fnum(meta.get(f"idle_hwm_kb_{n}"))
            anon = fnum(meta.get(f"idle_anon_kb_{n}"))
            w(
                f"Idle daemon (`feedcorpus run`, {n} feeds, after its first round): "
                f"VmRSS {idle / 1024:.1f} MB (high-water {s(hwm / 1024 if hwm else None, 1)} MB), "
                f"of which private (RssAnon) {s(anon / 1024 if anon else None, 1)} MB; the rest is the program's code and tables mapped from its file."
            )
        w("")

    large = large_cells(meta)
    if large:
        w("## One feed of many small items (a single cold fetch)")
        w("")
        w("| tool | items | feed MB | wall s | CPU s | peak RSS MB | verified |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for (m, tool), c in sorted(large.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            xml = fnum(meta.get(f"large_xml_bytes_{m}"))
            w(
                f"| {tool} | {m:,} | {s(xml / 1e6 if xml else None, 1)} | {secs(c['wall'])} | {s(c['cpu'])} | "
                f"{s(c['rss_mb'], 1)} | {'✓' if c['ok'] else '✗'} {c['entries']}/{m} |"
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

        fc = cs.get((hi, "feedcorpus", "cold"))
        eps = int(fc.expected) / fc.wall if fc and fc.wall else None
        target("cold ≥ 8,000 entries/s", eps, lambda v: v >= 8000, lambda v: f"{v:,.0f}/s")
        target(
            "cold ≤ 0.25 ms of CPU per entry",
            1000 * fc.cpu / int(fc.expected) if fc and fc.cpu else None,
            lambda v: v <= 0.25,
            lambda v: f"{v:.3f} ms",
        )
        for peer, cold_x, churn_x in (("newsboat", 5, 10), ("reader", 20, 20)):
            if peer in tools:
                target(f"cold ≥ {cold_x}× faster than {peer}", ratio(wall(peer, "cold"), wall("feedcorpus", "cold")), lambda v, x=cold_x: v >= x)
                target(f"churn ≥ {churn_x}× faster than {peer}", ratio(wall(peer, "churn"), wall("feedcorpus", "churn")), lambda v, x=churn_x: v >= x)
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
        db, text = fnum(meta.get(f"disk_db_{hi}_feedcorpus")), fnum(meta.get(f"text_bytes_{hi}_feedcorpus"))
        target("database ≤ 1.5× its normalized text", ratio(db, text), lambda v: v <= 1.5)
        corpus, nb = fnum(meta.get(f"disk_corpus_{hi}_feedcorpus")), fnum(meta.get(f"disk_db_{hi}_newsboat"))
        if nb:
            target(
                "database + corpus ≤ 2.5× newsboat's store",
                ratio((db or 0) + (corpus or 0), nb) if db else None,
                lambda v: v <= 2.5,
            )
        big = {m: c for (m, t), c in large.items() if t == "feedcorpus"}
        if len(big) >= 2:
            small_m, big_m = min(big), max(big)
            limit = 1.25 * big_m / small_m
            target(
                f"one fetch of {big_m:,} items ≤ {limit:g}× one of {small_m:,}",
                ratio(big[big_m]["wall"], big[small_m]["wall"]),
                lambda v, limit=limit: v <= limit,
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


def disk_rows(meta, n, tools):
    """Rows of the on-disk table for N: every tool whose store was measured after cold."""
    rows = []
    for t in tools:
        db = fnum(meta.get(f"disk_db_{n}_{t}"))
        if db is None:
            continue
        corpus = fnum(meta.get(f"disk_corpus_{n}_{t}"))
        text = fnum(meta.get(f"text_bytes_{n}_{t}"))
        total = db + (corpus or 0)
        rows.append(
            f"| {t} | {db / 1e6:.1f} | {s(corpus / 1e6 if corpus is not None else None, 1)} | {total / 1e6:.1f} | "
            f"{s(text / 1e6 if text else None, 1)} | {rx(ratio(db, text))} |"
        )
    return rows


def large_cells(meta):
    """(items, tool) → the single large fetch's figures, from `large_M_TOOL` meta lines."""
    out = {}
    for k, v in meta.items():
        if not k.startswith("large_") or k.startswith("large_xml_bytes_") or k == "large":
            continue
        _, m, tool = k.split("_", 2)
        parts = v.split()
        if not m.isdigit() or len(parts) < 6:
            continue
        wall, user, sys_, rss, entries, ok = parts[:6]
        out[(int(m), tool)] = {
            "wall": fnum(wall),
            "cpu": (fnum(user) or 0) + (fnum(sys_) or 0),
            "rss_mb": (fnum(rss) or 0) / 1024,
            "entries": entries,
            "ok": ok == "1",
        }
    return out


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
