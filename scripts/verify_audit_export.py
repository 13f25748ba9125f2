#!/usr/bin/env python3
"""Check a Tenantdesk audit log export offline, with nothing but Python's standard library.

    python3 verify_audit_export.py audit-acme.jsonl [--head HASH]

The export (audit log page, "Download for verification", or GET /o/<slug>/audit.jsonl) has one
JSON object per line, in chain order. Each entry's ``row_hash`` is the SHA-256 (hex) of
``prev_hash`` + "\\n" + these fields joined by U+001F: org_id, id, seq, at, actor_user_id,
actor, action, target, ip, user_agent, details (missing values as empty text; the values are
the export's strings, used as they are). ``prev_hash`` is the previous entry's ``row_hash``,
64 zeros for the first. ``--head`` is a hash you noted earlier (the "Verify" page shows the
latest one; signed checkpoints carry it too): the export must still contain it.
Exit status 0 when intact, 1 with the first entry that does not fit.
"""

import argparse
import hashlib
import json
import sys

GENESIS = "0" * 64
FIELDS = ("org_id", "id", "seq", "at", "actor_user_id", "actor", "action", "target", "ip",
          "user_agent", "details")


def entry_hash(prev_hash, entry):
    text = "\x1f".join("" if entry.get(name) is None else str(entry[name]) for name in FIELDS)
    return hashlib.sha256((prev_hash + "\n" + text).encode("utf-8")).hexdigest()


def check(lines, head=None):
    prev, expected, seen_head = GENESIS, 1, head is None
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry["seq"] != expected:
            return False, f"entry {expected} is missing (the next one is {entry['seq']})"
        if entry["prev_hash"] != prev:
            return False, f"entry {expected} does not follow entry {expected - 1}"
        if entry_hash(prev, entry) != entry["row_hash"]:
            return False, f"entry {expected} was changed after it was written"
        prev, expected = entry["row_hash"], expected + 1
        seen_head = seen_head or prev == head
    if not seen_head:
        return False, f"the hash {head} you noted is not in this export (entries were removed)"
    return True, f"intact: {expected - 1} entries, latest hash {prev}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a Tenantdesk audit log export.")
    parser.add_argument("export")
    parser.add_argument("--head", help="a latest hash noted earlier, which must still be there")
    args = parser.parse_args(argv)
    with open(args.export, encoding="utf-8") as handle:
        intact, message = check(handle, args.head)
    print(message)
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main())
