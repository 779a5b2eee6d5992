"""Benchmark scripts (run them as files; a package only so the provider process can import
``benchmarks.trivial_provider`` by reference)."""
