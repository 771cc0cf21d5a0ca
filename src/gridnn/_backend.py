"""The one array-module handle every op uses.

All array calls in ``gridnn.ops`` go through ``xp`` so that an array library with NumPy's API
(CuPy, for instance) can replace NumPy in this one place.
"""

import numpy

xp = numpy

DEFAULT_DTYPE = xp.float32
