"""Retrieval: hybrid dense + BM25 chunk ranking, sentence evidence scores, follow-up expansion."""
