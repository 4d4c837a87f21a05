"""One poll round of the Python `reader` library, for the benchmark (bench/run.sh).

Adds every URL of --urls to the database (already present ones are kept), updates every feed
whether or not it is due, and prints the entry count and the number of feeds whose last update
failed:

    entries 10000 feeds 200 failed 0
"""

import argparse
import sys

from reader import make_reader


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="SQLite file (created if missing)")
    ap.add_argument("--urls", required=True, help="file of feed URLs, one per line")
    ap.add_argument("--workers", type=int, default=1, help="update_feeds() workers")
    args = ap.parse_args()

    with open(args.urls, encoding="utf-8") as f:
        urls = [line.strip() for line in f if line.strip()]

    reader = make_reader(args.db)
    try:
        for url in urls:
            reader.add_feed(url, exist_ok=True)
        # scheduled=False: every feed, as in one poll round; the default skips feeds not yet due.
        reader.update_feeds(scheduled=False, workers=args.workers)
        entries = reader.get_entry_counts().total
        failed = sum(1 for feed in reader.get_feeds() if feed.last_exception is not None)
    finally:
        reader.close()
    print(f"entries {entries} feeds {len(urls)} failed {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
