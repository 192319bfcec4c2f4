"""Kaggle-grade ECG image digitization pipeline plus medical-image baseline classifiers."""

__version__ = "0.1.0"
