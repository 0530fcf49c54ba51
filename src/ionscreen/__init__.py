"""ionscreen: screen crystal structures for fast Li-ion transport."""

__version__ = "0.1.0"
