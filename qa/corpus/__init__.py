"""The corpus: documents, text extraction, sentence segmentation and chunking."""
