"""tracelot: batch/lot and serial-number traceability for small manufacturers."""

__version__ = "0.1.0"
