"""The web UI in Simplified Chinese: server-rendered Jinja2 pages, HTMX for partial updates.

All scripts and styles are served from ``static/`` (HTMX and ECharts vendored from the
npm registry), never from a CDN: the platform runs in bureau and hospital networks that
have no internet access.
"""

from pathlib import Path

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
