"""Reproducible speed and memory measurements (``make bench``)."""
