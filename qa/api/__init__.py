"""The HTTP surface: a FastAPI app factory, one router per surface."""
