"""vqlib: the thin library behind the vector-quantization book (estimators, initializers, R(D), training)."""

__version__ = "0.1.0"
