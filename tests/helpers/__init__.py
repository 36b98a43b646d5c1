"""Shared code of the tests and the benchmarks.

Importable as `helpers.*` (tests/ is on the path: tests/conftest.py puts it
there; a benchmark adds it).  Imports the product, the standard library and
third-party packages only, never a test module or a benchmark
(tests/meta/test_helper_imports.py checks).
"""
