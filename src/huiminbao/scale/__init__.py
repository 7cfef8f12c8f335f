"""Adjudicating years larger than one run of the in-memory engine: partitioned on one machine, Spark beyond."""
