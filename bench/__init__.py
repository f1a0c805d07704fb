"""Benchmarks for semsearch: ``make bench`` runs them all and writes ``BENCHMARKS.md``.

Benchmarks are not tests: they assert nothing about timings and never run under ``make test``.
Each benchmark module exposes ``async def run() -> Section``; ``bench.__main__`` lists them in order.
"""
