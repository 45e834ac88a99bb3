#!/usr/bin/env python3
"""Lists the `crate::` edges between the top-level modules of a crate's src/ and any cycle.

Usage: scripts/module-edges.py providers/mockcloud/src
Exits 1 when two modules use each other (directly or through others).
"""
import os
import re
import sys
from collections import defaultdict

src = sys.argv[1] if len(sys.argv) > 1 else "."
edges = defaultdict(set)
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        rel = os.path.relpath(path, src)
        module = rel[:-3].split(os.sep)[0]
        if module in ("lib", "main", "bin"):
            continue
        text = open(path, encoding="utf-8").read()
        # Doc links name modules without depending on them.
        code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        targets = set(re.findall(r"crate::([a-z_0-9]+)", code))
        for group in re.findall(r"crate::\{([^}]*)\}", code):
            targets |= {t.strip().split("::")[0] for t in group.split(",") if t.strip()}
        for t in targets:
            is_module = os.path.exists(os.path.join(src, t + ".rs")) or os.path.isdir(
                os.path.join(src, t)
            )
            if t != module and is_module:
                edges[module].add(t)

for m in sorted(edges):
    print(f"{m} -> {', '.join(sorted(edges[m]))}")

# Cycles: strongly connected components with more than one module.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))
for v in sorted(set(edges) | {t for ts in edges.values() for t in ts}):
    if v not in index:
        visit(v)
if sccs:
    for c in sccs:
        print("cycle:", " <-> ".join(c))
    sys.exit(1)
print("no cycles")
