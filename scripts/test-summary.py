#!/usr/bin/env python3
"""test-summary.py TESTLOG.json...: the closing "N passed, N failed, N skipped" line, summed over
the meson test logs given (one per build directory). A log that is missing counts as one failure."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            results = [json.loads(line)["result"] for line in f if line.strip()]
    except OSError as e:
        print(f"test-summary: {path}: {e.strerror}", file=sys.stderr)
        failed += 1
        continue
    passed += sum(r in ("OK", "EXPECTEDFAIL") for r in results)
    skipped += sum(r == "SKIP" for r in results)
    failed += sum(r not in ("OK", "EXPECTEDFAIL", "SKIP") for r in results)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
