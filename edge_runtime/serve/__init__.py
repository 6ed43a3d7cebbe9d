"""digits-edge serve: a live page and an HTTP API over the edge runtime (the [serve] extra).

Nothing here is imported by ``image`` or ``camera``; the web framework is imported only by
``server.run`` and ``app``.
"""
