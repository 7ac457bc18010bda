"""kmsguard: find, explain, fix and prevent exposed AWS KMS keys."""

__version__ = "0.1.0"
