"""API routers, one per file."""
