"""Evaluation: suites as data, the eps sweep, the cell store, the results schema and trust checks."""
