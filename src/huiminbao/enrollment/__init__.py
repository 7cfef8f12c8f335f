"""Enrollment: the bureau's roster of basic insured persons, and (later) policies on it."""
