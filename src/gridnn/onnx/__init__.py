"""ONNX export and import (``gridnn.onnx``), with the official ``onnx`` package.

    import gridnn.onnx
    gridnn.onnx.export(model, "model.onnx", input_shape=(1, 28, 28))   # dynamic batch axis
    model = gridnn.onnx.load("resnet.onnx")    # nn.Sequential or GraphModule of gridnn layers

Export covers every gridnn layer that has an ONNX counterpart (locally connected layers have
none and raise); import covers the operators ordinary CNN exports use and folds their shape
arithmetic. Loading an untrusted file checks sizes before allocating and never runs code.
"""

from .export import export, to_proto
from .graph import GraphModule
from .load import SUPPORTED, OnnxInfo, load, load_model_file

__all__ = ["SUPPORTED", "GraphModule", "OnnxInfo", "export", "load", "load_model_file",
           "to_proto"]
