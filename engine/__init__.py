"""kraken-router: an order-routing engine for Kraken Spot.

The public surface is `Engine` and `EngineConfig`; everything else is internal.
"""
