"""Make a network's ideas visible: dense equivalents, connection counts, receptive fields.

``dense_equivalent`` (the MLP layer a conv or locally connected layer equals),
``connection_counts`` (MLP weights vs sparse connections vs shared parameters) and
``receptive_field`` need NumPy only; the pictures (``draw``) and the HTML report (``report``)
import matplotlib when first used.
"""

from .counts import connection_counts
from .dense import LinearMap, conv_map, dense_equivalent, layer_map, linear_map, local_map
from .receptive import receptive_field

__all__ = [
    "LinearMap", "connection_counts", "conv_map", "dense_equivalent", "layer_map", "linear_map",
    "local_map", "receptive_field",
]
