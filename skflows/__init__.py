"""skflows: normalizing flows and their relatives behind the scikit-learn API."""

from .density import FlowDensity
from .mixture import FlowMixtureClustering

__version__ = "0.1.0.dev0"

__all__ = ["FlowDensity", "FlowMixtureClustering", "__version__"]
