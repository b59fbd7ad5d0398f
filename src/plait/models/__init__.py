"""The model registry, exports to ONNX and the files both read (issue 12)."""
