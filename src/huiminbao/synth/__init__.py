"""A synthetic city for a plan: roster, institutions, settlements and fee lines.

Realistic enough to read like a bureau's export, exact enough that every identity of
the national settlement record holds to the fen, and fast enough (numpy + polars, no
per-row Python) for benchmark-sized cities of millions of people.
"""

from huiminbao.synth.city import City, generate_city, generate_parts
from huiminbao.synth.write import write_city, write_parts

__all__ = ["City", "generate_city", "generate_parts", "write_city", "write_parts"]
