#!/usr/bin/env python3
"""Reads cargo-llvm-cov's JSON export: prints line and region coverage per file and per module
of src/, and fails if any `unsafe { .. }` block in src/ was never executed.

    python3 .ci/coverage_check.py target/llvm-cov/coverage.json

The execution count of an unsafe block comes from the export's segments (counts summed over
every instantiation of generic code): the highest count of a code region that begins between
the `unsafe` keyword and the block's closing brace, else that of the region covering the keyword. Not a whole line's
count: on a line such as `.with(|p| unsafe { .. })`, the line can run while the closure does not.

`unsafe fn` lines are listed with their count for information; an unsafe fn that never runs
leaves its body's unsafe blocks at zero, which fails the check anyway. `unsafe impl` lines carry
no code and are only counted.
"""

import json
import os
import re
import sys
from bisect import bisect_right

UNSAFE_BLOCK = re.compile(r"\bunsafe\s*\{")
UNSAFE_FN = re.compile(r"\bunsafe\s+fn\b")
UNSAFE_IMPL = re.compile(r"\bunsafe\s+impl\b")


def code_part(line):
    """The line without a trailing `//` comment (good enough: no `//` inside strings nearby)."""
    stripped = line.lstrip()
    if stripped.startswith("//"):
        return ""
    cut = line.find("//")
    return line if cut < 0 else line[:cut]


def block_end(lines, number, col):
    """(line, col) of the `}` that closes the block whose `{` is the first one at or after
    (number, col), both 1-based; braces in strings and comments are not special (the unsafe
    blocks in src/ hold none)."""
    depth = 0
    for n in range(number, len(lines) + 1):
        text = code_part(lines[n - 1])
        start = col - 1 if n == number else 0
        for c in range(start, len(text)):
            if text[c] == "{":
                depth += 1
            elif text[c] == "}":
                depth -= 1
                if depth == 0:
                    return (n, c + 1)
    raise ValueError(f"unbalanced braces after line {number}")


def block_count(segments, keys, start, end):
    """How often the code from `start` to `end` ran: the highest count of a code region that
    begins inside; if none does, the count of the region covering `start`; None where no
    counted region touches it. rustc maps only spans of code to regions, so the `unsafe`
    keyword itself often lies in a stretch without a count, and the block's contents carry it.
    The covering region is only a fallback: it may be an enclosing expression that ran while a
    closure or branch holding the block did not."""
    inside = []
    j = bisect_right(keys, start) - 1
    if j >= 0 and keys[j] == start and segments[j][3]:
        inside.append(segments[j][2])  # a region that begins exactly at the keyword
    j += 1
    while j < len(segments) and keys[j] <= end:
        if segments[j][3]:
            inside.append(segments[j][2])
        j += 1
    if inside:
        return max(inside)
    i = bisect_right(keys, start) - 1
    if i >= 0 and segments[i][3]:
        return segments[i][2]
    return None


def module_of(path):
    parts = path.split(os.sep)
    if len(parts) == 2:  # src/lib.rs, src/primitive.rs
        return parts[1][:-3]
    return parts[1]


def pct(covered, count):
    return 100.0 * covered / count if count else 100.0


def main(export_path):
    with open(export_path) as f:
        export = json.load(f)
    root = os.getcwd()
    files = {}
    for entry in export["data"][0]["files"]:
        rel = os.path.relpath(entry["filename"], root)
        if rel.startswith("src" + os.sep):
            files[rel] = entry

    print(f"\n{'file':45} {'lines':>15} {'line %':>7} {'regions':>15} {'region %':>8}")
    modules = {}
    for rel in sorted(files):
        summary = files[rel]["summary"]
        lines, regions = summary["lines"], summary["regions"]
        print(f"{rel:45} {lines['covered']:>7}/{lines['count']:<7} {lines['percent']:6.1f}% "
              f"{regions['covered']:>7}/{regions['count']:<7} {regions['percent']:7.1f}%")
        m = modules.setdefault(module_of(rel), [0, 0, 0, 0])
        m[0] += lines["covered"]
        m[1] += lines["count"]
        m[2] += regions["covered"]
        m[3] += regions["count"]

    print(f"\n{'module':20} {'line %':>7} {'region %':>9}   (lines, regions)")
    total = [0, 0, 0, 0]
    for name in sorted(modules):
        m = modules[name]
        total = [a + b for a, b in zip(total, m)]
        print(f"{name:20} {pct(m[0], m[1]):6.1f}% {pct(m[2], m[3]):8.1f}%   "
              f"({m[0]}/{m[1]}, {m[2]}/{m[3]})")
    print(f"{'all of src/':20} {pct(total[0], total[1]):6.1f}% {pct(total[2], total[3]):8.1f}%   "
          f"({total[0]}/{total[1]}, {total[2]}/{total[3]})")

    unreached, blocks, fns, impls, skipped = [], 0, [], 0, []
    least = None  # (count, where) of the least-run unsafe block
    for dirpath, _dirs, names in os.walk("src"):
        for name in sorted(names):
            if not name.endswith(".rs"):
                continue
            rel = os.path.join(dirpath, name)
            with open(rel) as f:
                lines = f.read().split("\n")
            entry = files.get(rel)
            if entry is None:
                # cargo-llvm-cov leaves test code (`tests.rs`, `tests/`) out of its report;
                # any other file of src/ missing from it is an error.
                if name == "tests.rs" or os.sep + "tests" + os.sep in rel:
                    skipped.append(rel)
                    continue
                if any(UNSAFE_BLOCK.search(code_part(t)) for t in lines):
                    unreached.append(f"{rel}: holds unsafe blocks but is not in the report")
                continue
            segments = entry["segments"]
            keys = [(seg[0], seg[1]) for seg in segments]
            for number, text in enumerate(lines, start=1):
                code = code_part(text)
                for match in UNSAFE_BLOCK.finditer(code):
                    blocks += 1
                    start = (number, match.start() + 1)
                    end = block_end(lines, number, match.start() + 1)
                    count = block_count(segments, keys, start, end)
                    if not count:
                        unreached.append(f"{rel}:{number}: {text.strip()}  (count {count})")
                    elif least is None or count < least[0]:
                        least = (count, f"{rel}:{number}")
                found = UNSAFE_FN.search(code)
                if found:
                    # The body's first region: from the `unsafe` to the end of its `{ .. }`.
                    end = block_end(lines, number, found.start() + 1)
                    fns.append((rel, number, block_count(segments, keys,
                                                         (number, found.start() + 1), end)))
                if UNSAFE_IMPL.search(code):
                    impls += 1
    if skipped:
        print(f"\nnot in the report (test code): {', '.join(skipped)}")

    print(f"\nunsafe: {blocks} `unsafe {{` blocks, {len(fns)} unsafe fns, {impls} unsafe impls "
          f"in src/")
    for rel, number, count in fns:
        print(f"  unsafe fn {rel}:{number}: entered {count if count is not None else 'never'}"
              f"{'' if count else '  <- never called'}")
    if blocks == 0:
        print("no `unsafe {` block found in src/: the checker's pattern is broken", file=sys.stderr)
        return 1
    if unreached:
        print(f"\n{len(unreached)} unsafe block(s) never executed by the tests:", file=sys.stderr)
        for line in unreached:
            print("  " + line, file=sys.stderr)
        return 1
    print(f"every one of the {blocks} unsafe blocks ran at least once; the least run, "
          f"{least[1]}, {least[0]} times")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
