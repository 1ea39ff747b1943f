"""One error hierarchy for the whole package.

Stages raise these; only the edges (HTTP handlers, CLI, Slack) turn them into status codes and
messages. Messages are written for users: no tracebacks, no internal paths beyond what the user
configured themselves.
"""

from __future__ import annotations


class QAError(Exception):
    """Base class: a stable machine-readable ``code``, a human ``message`` and an HTTP status."""

    code = "internal_error"
    status_code = 500
    # What HTTP clients see when ``message`` names server-side files they have no business with.
    public_message: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def client_message(self) -> str:
        return self.public_message or self.message


class ConfigError(QAError):
    """A setting (environment variable or ``.env`` entry) has a value that cannot be used."""

    code = "config_error"
    public_message = "The server is misconfigured; see its log."


class InvalidInputError(QAError):
    code = "invalid_request"
    status_code = 422


class NotFoundError(QAError):
    code = "not_found"
    status_code = 404


class NotReadyError(QAError):
    """The service is up but cannot answer yet (index missing, corrupt or loading)."""

    code = "not_ready"
    status_code = 503


class IndexMissingError(NotReadyError):
    code = "index_missing"
    public_message = "The search index has not been built; the operator should run `qa index build`."


class IndexCorruptError(NotReadyError):
    code = "index_corrupt"
    public_message = "The search index is corrupt; the operator should run `qa index build`."


class CorpusError(NotReadyError):
    code = "corpus_error"
    public_message = "The document corpus could not be read; see the server log."


class ModelMissingError(NotReadyError):
    code = "model_missing"
    public_message = "The embedding model is not installed; see the server log."


class StorageError(QAError):
    """The conversation/feedback database cannot be read or written right now."""

    code = "storage_unavailable"
    status_code = 503
    public_message = "Conversation storage is unavailable right now; try again shortly."


class BusyError(QAError):
    """Too many answers at once for this caller or this server; retry after ``retry_after`` s."""

    code = "rate_limited"
    status_code = 429
    retry_after = 1
