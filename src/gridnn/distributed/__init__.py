"""Data-parallel training over MPI: every rank trains on its shard of each global batch and
one Allreduce per step averages the gradients, so all ranks hold the same weights.

    mpiexec -n 4 python train.py        # with mpi4py and an MPI: pip install 'gridnn[distributed]'

    from gridnn import distributed as dist
    dist.rank(), dist.world_size()
    history = dist.fit_distributed(model, train_loader, test_loader, epochs=5,
                                   optimizer=opt, sync_bn=True)

Names follow PyTorch's torch.distributed where there is one (SyncBatchNorm,
convert_sync_batchnorm, rank / world size); ``ShardedLoader`` plays DistributedSampler's part
and ``GradientAllreduce`` the gradient averaging of DistributedDataParallel.
"""

from .comm import Communicator, DistributedError, launched_by_mpi, rank, world, world_size
from .ddp import GradientAllreduce
from .run import RankZeroCheckpointer, StopOnSignal, check_same_settings, fit_distributed
from .sampler import ShardedGenerator, ShardedLoader, shard_bounds, shard_random_layers
from .sync_bn import SyncBatchNorm, convert_sync_batchnorm

__all__ = [
    "Communicator", "DistributedError", "GradientAllreduce", "RankZeroCheckpointer",
    "ShardedGenerator", "ShardedLoader", "StopOnSignal", "SyncBatchNorm",
    "check_same_settings", "convert_sync_batchnorm", "fit_distributed", "launched_by_mpi",
    "rank", "shard_bounds", "shard_random_layers", "world", "world_size",
]
