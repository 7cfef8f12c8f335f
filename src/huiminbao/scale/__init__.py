"""Adjudicating years beyond one in-memory run: partitioned on one machine, or on Spark."""
