"""Supervision and design: figures over a plan-year for the bureau and the actuary."""
