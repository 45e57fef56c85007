"""Kraken Spot protocol core: pure codecs, schemas and signing (no I/O, threads or clocks)."""
