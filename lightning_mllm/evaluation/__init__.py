"""Benchmarks in English and Basque: loading, answering, scoring and reporting."""
