"""Retrieval-augmented question answering over a document corpus with exact citations.

Importing ``qa`` is cheap: the model and index load only when a pipeline warms up.
"""

__version__ = "0.1.0"
