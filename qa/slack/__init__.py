"""The Slack bot surface: a thin adapter from Slack events to ``pipeline.answer``.

``mount_slack`` is the only entry point the app factory needs; slack-bolt is imported only when
the bot is configured, so the rest of the service neither pays for it nor depends on it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from qa.config import Settings

log = logging.getLogger("qa.slack")


def mount_slack(app: FastAPI, settings: Settings) -> bool:
    """Mount the bot when configured; returns whether it was. Unconfigured: no route at all."""
    slack = settings.slack
    if slack.bot_token is None:
        if slack.signing_secret is not None or slack.app_token is not None:
            log.warning("Slack bot off: QA_SLACK__BOT_TOKEN is not set")
        return False
    if slack.signing_secret is None and slack.app_token is None:
        log.warning(
            "Slack bot off: set QA_SLACK__SIGNING_SECRET (HTTP events) or QA_SLACK__APP_TOKEN (Socket Mode)"
        )
        return False
    from qa.slack.app import install

    install(app, settings)
    return True
