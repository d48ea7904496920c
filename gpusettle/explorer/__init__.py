"""`gpusettle explorer`: a read-only web app over the index (pages, a JSON API under /api/, static assets).

No keys come near it: it opens the index read-only and talks to no chain.
"""

from .app import create_app

__all__ = ["create_app"]
