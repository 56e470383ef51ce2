"""create_app(settings) -> Litestar: routes, lifespans, middleware, the one error handler."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from livevote.accounts.controllers import HASHING_ROUTES
from livevote.accounts.controllers import route_handlers as account_routes
from livevote.activities.controllers import route_handlers as activity_routes
from livevote.activities.stream import install as install_activity_streams
from livevote.config import Settings
from livevote.errors import handle_exception
from livevote.events.controllers import route_handlers as event_routes
from livevote.events.http import CODE_LOOKUP_ROUTES
from livevote.events.jury_controllers import route_handlers as jury_routes
from livevote.events.pages import route_handlers as event_pages
from livevote.events.stream import install as install_event_streams
from livevote.infra import di, health
from livevote.infra.broadcaster import broadcaster_lifespan
from livevote.infra.edge import EdgeGuard
from livevote.infra.groupcommit import group_commit_lifespan, provide_group_commits
from livevote.infra.hooks import NO_HOOKS, Hooks, provide_hooks
from livevote.infra.logs import configure_logging
from livevote.infra.metrics import MetricsMiddleware, count_unrouted
from livevote.infra.openapi import document_problem_responses
from livevote.infra.ratelimit import RateLimitMiddleware
from livevote.infra.resources import (
    Clock,
    mongo_lifespan,
    provide_clock,
    provide_db,
    provide_limiter,
    provide_redis,
    provide_settings,
    provide_tokens,
    redis_lifespan,
    utc_now,
)
from livevote.infra.validation import strict_body
from livevote.polls.controllers import route_handlers as poll_routes
from livevote.polls.pages import route_handlers as poll_pages
from livevote.tallies.controllers import route_handlers as election_routes
from livevote.tallies.pages import route_handlers as election_pages
from livevote.tallies.stream import install as install_election_streams
from livevote.tallies.worker import tallies_lifespan
from livevote.web import render


def create_app(
    settings: Settings | None = None, *, clock: Clock = utc_now, hooks: Hooks | None = None
) -> Litestar:
    """The app; `hooks` is the fault-injection seam (infra/hooks.py), None in production."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    di.install()  # dependencies awaited in order, no task group per request (infra/di)
    app = Litestar(
        route_handlers=[
            *health.route_handlers,
            *account_routes,
            *event_routes,
            *jury_routes,
            *event_pages,
            *activity_routes,
            *election_routes,
            *election_pages,
            *poll_routes,
            *poll_pages,
            create_static_files_router("/static", [render.STATIC], include_in_schema=False),
        ],
        lifespan=[
            redis_lifespan,
            mongo_lifespan,
            group_commit_lifespan,  # after MongoDB: drained before the client closes
            broadcaster_lifespan(
                install_event_streams, install_election_streams, install_activity_streams
            ),
            tallies_lifespan,
        ],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "redis": Provide(provide_redis, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "clock": Provide(provide_clock, sync_to_thread=False),
            "limiter": Provide(provide_limiter, sync_to_thread=False),
            "tokens": Provide(provide_tokens, sync_to_thread=False),
            "hooks": Provide(provide_hooks, sync_to_thread=False),
            "group_commits": Provide(provide_group_commits, sync_to_thread=False),
        },
        middleware=[DefineMiddleware(MetricsMiddleware), DefineMiddleware(RateLimitMiddleware)],
        before_request=strict_body,  # every JSON body decoded strictly (infra/validation)
        exception_handlers={Exception: handle_exception},
        after_exception=[count_unrouted],
        openapi_config=OpenAPIConfig(
            title="livevote",
            version="0.1.0",
            description="Real-time voting: live events, a poll feed and election tallies.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        template_config=render.template_config(),
        compression_config=CompressionConfig(backend="gzip", exclude=["/api/.*/stream"]),
        request_max_body_size=settings.limits.max_body_bytes,
        debug=False,
        logging_config=None,
    )
    # Remembered refusals are answered before Litestar does any work (infra/edge).
    app.asgi_handler = EdgeGuard(app.asgi_handler, CODE_LOOKUP_ROUTES, HASHING_ROUTES)
    app.state.settings = settings
    app.state.clock = clock
    app.state.hooks = hooks or NO_HOOKS
    document_problem_responses(app)  # errors are problem+json in the OpenAPI schema too
    return app


def create_app_from_env() -> Litestar:
    """Factory for uvicorn workers (`livevote serve --workers N`)."""
    return create_app()
