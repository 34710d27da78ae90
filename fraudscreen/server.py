"""Run the API under gunicorn, the production WSGI server, from Python (``fraudscreen serve``)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from fraudscreen.config import Settings


class FraudscreenServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application that builds one Flask app per worker from the settings."""

    def __init__(self, settings: Settings, options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": "gthread",
            "threads": 2,
            "keepalive": 30,
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from fraudscreen.api import create_app

        return create_app(self.settings)


def run_server(settings: Settings, options: dict[str, Any] | None = None) -> None:
    """Serve until interrupted."""
    FraudscreenServer(settings, options).run()
