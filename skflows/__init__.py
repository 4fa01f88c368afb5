"""skflows: normalizing flows and their relatives behind the scikit-learn API."""

from .density import FlowDensity
from .mixture import FlowMixtureClustering

from ._version import __version__

__all__ = ["FlowDensity", "FlowMixtureClustering", "__version__"]
