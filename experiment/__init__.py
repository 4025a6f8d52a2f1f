"""Self-compassion paradigm runner (Kirschner et al., 2019): sessions, markers, data."""

__version__ = "0.1.0"
