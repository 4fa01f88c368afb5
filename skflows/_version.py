"""The skflows version, in one place (the package and every pickled estimator read it)."""

__version__ = "0.1.0.dev0"
