"""Text embeddings: protocol (``base``), backends (``torch_model``, ``onnx``), batching, factory."""
