"""Optimisers (SGD, Adam, AdamW) and learning-rate schedules, with torch.optim's update rules.

Parameters are updated in place on ``param.data`` in the parameter's own dtype (float32 stays
float32). Hyper-parameters are checked when the optimiser is built. ``state_dict()`` gives
``{'param_groups': [...JSON-able...], 'state': {index: {name: ndarray or number}}}`` where the
index counts parameters across groups in order, as PyTorch does.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(loader))
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
"""

from .optimizers import SGD, Adam, AdamW, Optimizer
from .schedules import CosineAnnealingLR, LRScheduler, OneCycleLR, StepLR

__all__ = [
    "SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "OneCycleLR", "Optimizer",
    "StepLR",
]
