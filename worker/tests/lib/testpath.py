"""Path set-up for every Python test of the project, imported first.

A test script puts this folder (worker/tests/lib) on sys.path with one
line and imports this module; it then finds the shared helpers here and
the shared test doubles in worker/tests/doubles, whether it runs on its
own or under ci/check.sh (which exports IB_TOP and B).
"""

import os
import sys

LIB = os.path.dirname(os.path.abspath(__file__))
DOUBLES = os.path.join(os.path.dirname(LIB), "doubles")
TOP = os.environ.get("IB_TOP") or os.path.abspath(
    os.path.join(LIB, "..", "..", ".."))
BUILD = os.path.join(TOP, os.environ.get("B", "build"))

for _p in (DOUBLES, LIB):
    if _p not in sys.path:
        sys.path.insert(0, _p)
