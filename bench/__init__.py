"""The upstream-budget benchmark: `make bench` (docs/benchmarks.md)."""
