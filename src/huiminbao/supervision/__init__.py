"""Supervision (监管): the figures the bureau judges a scheme by, read-only over the platform's records."""
