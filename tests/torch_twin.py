"""The PyTorch twin of a gridnn module, for the tests: it lives in ``gridnn.bench.twin``, where
the speed benchmark builds its PyTorch side from it too."""

from gridnn.bench.twin import (  # noqa: F401
    TorchResidualBlock,
    copy_to_torch,
    torch_state_as_numpy,
    torch_twin,
)
