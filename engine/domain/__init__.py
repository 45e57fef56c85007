"""The engine's pure domain: order lifecycle, reconciliation and schedules (no I/O)."""
