"""skflows: normalizing flows and their relatives behind the scikit-learn API."""

from .archetypes import DeepArchetypes
from .autoencoder import CWAutoencoder
from .density import FlowDensity
from .manifold import ManifoldFlow
from .mixture import FlowMixtureClustering
from .outliers import FlowOutlierGenerator
from .regression import FlowRegressor

from ._version import __version__

__all__ = ["CWAutoencoder", "DeepArchetypes", "FlowDensity", "FlowMixtureClustering", "ManifoldFlow", "FlowOutlierGenerator", "FlowRegressor", "__version__"]
