"""skflows: normalizing flows and their relatives behind the scikit-learn API."""

from .archetypes import DeepArchetypes
from .autoencoder import CWAutoencoder
from .density import FlowDensity
from .manifold import ManifoldFlow, ManifoldFlowRegressor
from .mixture import FlowMixtureClustering
from .ood import DensityDetector, InputComplexityDetector, LikelihoodRatioDetector, TypicalityDetector
from .outliers import FlowOutlierGenerator
from .regression import FlowRegressor

from ._version import __version__

__all__ = ["CWAutoencoder", "DeepArchetypes", "FlowDensity", "FlowMixtureClustering", "ManifoldFlow", "ManifoldFlowRegressor", "FlowOutlierGenerator", "FlowRegressor", "DensityDetector", "InputComplexityDetector", "LikelihoodRatioDetector", "TypicalityDetector", "__version__"]
