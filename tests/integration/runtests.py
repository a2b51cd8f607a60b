"""Runs the Python integration tests (stdlib unittest) for run.sh.

    runtests.py [-k PATTERN] [--destructive exclude|only|list] [--module NAME]

Modules are the test_*.py files beside this script.  A module that sets
DESTRUCTIVE = True (it stops or signals the broker) is left out by default;
run.sh lists them with --destructive list and runs each one on its own, last,
with a fresh broker.  -k works as unittest's: a substring of, or (with * ? [)
a shell pattern for, the test id "module.Class.method".

Prints unittest's verbose report, then one line
    RESULT passed=N failed=N skipped=N
and exits non-zero when a test failed or errored (or none ran while some
were expected).
"""

import argparse
import fnmatch
import glob
import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def module_names():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "test_*.py")))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def matches(test_id, pattern):
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(test_id, pattern if "*" in pattern else "*%s*" % pattern)
    return pattern in test_id


class CountingResult(unittest.TextTestResult):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", dest="pattern", default="")
    ap.add_argument("--destructive", choices=("exclude", "only", "list"), default="exclude")
    ap.add_argument("--module", default=None)
    args = ap.parse_args()

    loader = unittest.TestLoader()
    chosen = []
    names = [args.module] if args.module else module_names()
    for name in names:
        mod = importlib.import_module(name)
        destructive = bool(getattr(mod, "DESTRUCTIVE", False))
        if args.destructive in ("only", "list") and not destructive:
            continue
        if args.destructive == "exclude" and destructive and not args.module:
            continue
        tests = [t for t in iter_tests(loader.loadTestsFromModule(mod))
                 if matches(t.id(), args.pattern)]
        if args.destructive == "list":
            if tests:
                print(name)
            continue
        chosen.extend(tests)
    if args.destructive == "list":
        return 0

    suite = unittest.TestSuite(chosen)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=CountingResult)
    result = runner.run(suite)
    skipped = len(result.skipped)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    print("RESULT passed=%d failed=%d skipped=%d" % (passed, failed, skipped))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
