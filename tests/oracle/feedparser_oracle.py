#!/usr/bin/env python3
"""Reads feeds with Python's feedparser and prints what it found, as JSON, for the differential
parse test.

Input (argv[1]): a JSON list of {"path": ..., "content_type": ... or null}.
Output (stdout): a JSON list, in the same order, of
    {"path", "version", "encoding", "bozo", "error", "entries": [{"id", "title", "link",
     "published"}]}
where "published" is the entry's date as UTC seconds since the epoch (feedparser normalizes
dates to UTC) or null. Exits non-zero when feedparser cannot be imported, so a missing oracle is
a failure, not a skip.
"""

import calendar
import json
import sys

import feedparser


def main():
    jobs = json.loads(sys.argv[1])
    out = []
    for job in jobs:
        with open(job["path"], "rb") as f:
            data = f.read()
        headers = {}
        if job.get("content_type"):
            headers["content-type"] = job["content_type"]
        d = feedparser.parse(data, response_headers=headers)
        entries = []
        for e in d.entries:
            t = e.get("published_parsed") or e.get("updated_parsed")
            entries.append({
                "id": e.get("id"),
                "title": e.get("title"),
                "link": e.get("link"),
                "published": calendar.timegm(t) if t else None,
            })
        out.append({
            "path": job["path"],
            "version": d.get("version"),
            "encoding": d.get("encoding"),
            "bozo": bool(d.get("bozo")),
            "error": str(d.get("bozo_exception")) if d.get("bozo") else None,
            "entries": entries,
        })
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
