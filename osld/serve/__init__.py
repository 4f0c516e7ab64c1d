"""``osld serve``: an HTTP API and a web page over ``Pipeline`` and ``Registry`` (needs the ``[serve]`` extra).

Nothing is imported eagerly: ``osld --help`` must not pay for (or need) FastAPI.
"""

from __future__ import annotations

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):
    if name == "ServeConfig":
        from osld.serve.service import ServeConfig

        return ServeConfig
    if name == "create_app":
        from osld.serve.app import create_app

        return create_app
    raise AttributeError(name)
