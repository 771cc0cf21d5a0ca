"""placeholder"""


def receptive_field(*a, **k):
    raise NotImplementedError
