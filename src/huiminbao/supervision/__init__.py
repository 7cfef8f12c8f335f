"""Supervision and design (监管): the figures the bureau judges a scheme by and the actuary prices the next
year with, read-only over the platform's records."""
