"""Supervision: the figures the bureau and the operator watch a plan by (aggregates only)."""
