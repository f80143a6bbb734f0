#!/usr/bin/python3
"""The shape of the C code, as DESIGN says it: no include cycle between
modules (a module is NAME.c with NAME.h and its private NAME_priv.h or
NAME_xfer.h), no two C files with one basename in different folders (but
each program's main.c), and each folder includes only its own headers and
those of the layers below it: lib < cloud < daemon; the other programs
stand on lib (and backlog, logship and maintenance on cloud)."""

import os
import re
import sys
import unittest

TOP = os.environ.get("IB_TOP") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
W = os.path.join(TOP, "worker")
# The folders whose headers a folder may include, besides its own.
LAYERS = {
    "lib": [],
    "cloud": ["lib"],
    "daemon": ["lib", "cloud"],
    "builder": ["lib"],
    "depsolver": ["lib"],
    "vmcheck": ["lib"],
    "backlog": ["lib", "cloud"],
    "logship": ["lib", "cloud"],
    "maintenance": ["lib", "cloud"],
    "agent": ["lib"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    """(folder, path) of every .c and .h outside tests/."""
    for folder in LAYERS:
        base = os.path.join(W, folder)
        for dp, dn, fn in os.walk(base):
            dn[:] = [d for d in dn if d != "tests"]
            for f in sorted(fn):
                if f.endswith((".c", ".h")):
                    yield folder, os.path.join(dp, f)


def module(path):
    m = os.path.splitext(path)[0]
    return re.sub(r"_(priv|xfer)$", "", m)


def resolve(inc, frm, folder):
    """The file an include names, searched as the Makefile's -I do."""
    dirs = [os.path.dirname(frm), os.path.join(W, folder), W] + \
        [os.path.join(W, d) for d in LAYERS]
    for d in dirs:
        p = os.path.normpath(os.path.join(d, inc))
        if os.path.exists(p):
            return p
    return None


def find_cycles(edges):
    """Every back edge of a depth-first search, as the path it closes."""
    state, cycles = {}, []

    def visit(v, stack):
        state[v] = 1
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if state.get(w) == 1:
                cycles.append(stack[stack.index(w):] + [w])
            elif w not in state:
                visit(w, stack)
        stack.pop()
        state[v] = 2
    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in state:
            visit(v, [])
    return cycles


class Structure(unittest.TestCase):

    def test_no_include_cycle(self):
        edges = {}
        for folder, p in sources():
            with open(p, errors="replace") as f:
                text = f.read()
            m = module(p)
            edges.setdefault(m, set())
            for inc in INCLUDE.findall(text):
                r = resolve(inc, p, folder)
                if r and module(r) != m:
                    edges[m].add(module(r))
        cycles = find_cycles(edges)
        self.assertEqual([" -> ".join(os.path.relpath(x, W) for x in c)
                          for c in cycles], [])

    def test_one_basename_per_c_file(self):
        seen = {}
        for folder, p in sources():
            b = os.path.basename(p)
            if b.endswith(".c") and b != "main.c":
                seen.setdefault(b, []).append(os.path.relpath(p, W))
        self.assertEqual({b: ps for b, ps in seen.items() if len(ps) > 1}, {})

    def test_folders_include_only_lower_layers(self):
        wrong = []
        for folder, p in sources():
            with open(p, errors="replace") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                r = resolve(inc, p, folder)
                if r is None:
                    continue
                other = os.path.relpath(r, W).split(os.sep)[0]
                if other != folder and other not in LAYERS[folder]:
                    wrong.append("%s includes %s" % (
                        os.path.relpath(p, W), os.path.relpath(r, W)))
        self.assertEqual(wrong, [])

    def test_checker_sees_a_cycle(self):
        self.assertEqual(find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"},
                                      "d": {"a"}}), [["a", "b", "c", "a"]])
        self.assertEqual(find_cycles({"a": {"b"}, "b": set()}), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
