#!/usr/bin/env python3
"""Writes Tests/fixtures/onnx/: small VGGs exported by the real torch.onnx (both exporters) and
ONNX files built with onnx.helper, plus the outputs torch (or onnx's reference evaluator) computes
on fixed inputs. The files are committed; this script documents how they were made (it needs
`pip install torch torchvision timm onnx onnxscript`; the tests do not run it).

The torchvision networks are VGG16-shaped (13 convolutions, 5 max pools) with narrow channels and
a small classifier, built by torchvision's own VGG(make_layers(cfg)). The Linear biases of
classifier.0 and classifier.3 are zero, as in a freshly initialised torchvision VGG, so the
TorchScript exporter writes one initializer and `classifier.3.bias = Identity(classifier.0.bias)`.

  vgg16_tiny.onnx              torch.onnx.export(dynamo=False): Conv/Relu/MaxPool, AveragePool 1x1, Flatten, Gemm, Identity
  vgg16_bn_tiny.onnx           the same with BatchNorm, exported with do_constant_folding=False so
                               BatchNormalization nodes remain (random running stats, gamma, beta)
  vgg16_tiny_dynamo.onnx       torch.onnx.export(dynamo=True), torch's default exporter: Reshape, Gemm
  vgg16_tiny_external.onnx     vgg16_tiny saved with every initializer in vgg16_tiny_external.onnx.data
  timm_vgg11_tiny.onnx         timm's VGG11 (pre_logits 7x7 and 1x1 Conv, head.fc), TorchScript exporter: GlobalAveragePool
  timm_vgg11_tiny_dynamo.onnx  the same through the dynamo exporter: ReduceMean over (-1, -2), Reshape
  matmul_add.onnx              onnx.helper: Conv, Relu, MaxPool (ceil_mode 1), Flatten, MatMul+Add, Softmax; float_data
  unsupported_op.onnx          onnx.helper: a LeakyRelu node after a Conv (must be refused naming it)
  gemm_alpha.onnx              onnx.helper: Gemm with alpha 0.5 (refused)
  external_escape.onnx         onnx.helper: external data at '../escape.bin' (refused: outside the model's directory)
  expected.npz                 inputs and the outputs (see main)

Tests/Fuzz/corpus/onnx/ gets the fuzzer's seeds: two-block torchvision VGGs exported at 32x32 (the
fuzz harness's --input-size), one with BatchNormalization nodes, and the hand-built files.
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import timm
import torchvision
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn
from torchvision.models.vgg import VGG, make_layers

# The shapes and the timm network are the PyTorch fixtures' own (one definition for both scripts).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_torch_reference import CFG_D, timm_vgg  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "Tests" / "fixtures" / "onnx"
FUZZ_SEEDS = Path(__file__).resolve().parents[1] / "Tests" / "Fuzz" / "corpus" / "onnx"


def torchvision_vgg(batch_norm: bool) -> nn.Module:
    m = VGG(make_layers(CFG_D, batch_norm=batch_norm), num_classes=10, init_weights=True)
    m.classifier = nn.Sequential(nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.normal_(mod.bias, std=0.1)
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(std=0.2)
                mod.running_mean.normal_(std=0.3)
                mod.running_var.uniform_(0.2, 2.0)
        nn.init.normal_(m.classifier[6].bias, std=0.1)
    return m.eval()


def export(model, path, dynamo=False, **kw):
    x = torch.zeros(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"], dynamo=dynamo, **kw)
    # The dynamo exporter may write its weights next to the model; keep everything in one file.
    onnx.save(onnx.load(str(path)), str(path))
    Path(str(path) + ".data").unlink(missing_ok=True)


def hand_built(nodes, inits, out_shape, name, opset=17):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="libvgg fixtures")
    model.ir_version = 8
    return model


def float_tensor(name, array):
    """float_data (not raw_data), as onnx.helper writes by default."""
    a = np.asarray(array, dtype=np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.flatten().tolist())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        p.unlink()
    torch.manual_seed(0)
    plain, bn, tm = torchvision_vgg(False), torchvision_vgg(True), timm_vgg()

    export(plain, OUT / "vgg16_tiny.onnx")
    export(bn, OUT / "vgg16_bn_tiny.onnx", do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
    export(plain, OUT / "vgg16_tiny_dynamo.onnx", dynamo=True)
    export(tm, OUT / "timm_vgg11_tiny.onnx")
    export(tm, OUT / "timm_vgg11_tiny_dynamo.onnx", dynamo=True)
    m = onnx.load(str(OUT / "vgg16_tiny.onnx"))
    onnx.save(m, str(OUT / "vgg16_tiny_external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="vgg16_tiny_external.onnx.data", size_threshold=0)
    assert "Identity" in {n.op_type for n in m.graph.node}
    assert "BatchNormalization" in {n.op_type for n in onnx.load(str(OUT / "vgg16_bn_tiny.onnx")).graph.node}

    # Hand-built: a 12x12 input, conv 3->4, max pool 2x2/2 with ceil_mode 1 over 11x11 (so 6x6),
    # flatten, MatMul (in, out) + Add, Softmax.
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    fc = rng.standard_normal((4 * 6 * 6, 5)).astype(np.float32) * 0.1
    fcb = rng.standard_normal(5).astype(np.float32)
    mm = hand_built([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[2, 2], pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("MatMul", ["f", "fc"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "fcb"], ["a"], name="add"),
        helper.make_node("Softmax", ["a"], ["y"], name="softmax", axis=1),
    ], [float_tensor("w", w), float_tensor("b", b), float_tensor("fc", fc), float_tensor("fcb", fcb)], [1, 5], "matmul_add")
    onnx.checker.check_model(mm)
    onnx.save(mm, str(OUT / "matmul_add.onnx"))

    leaky = hand_built([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[2, 2]),
        helper.make_node("LeakyRelu", ["c"], ["y"], name="leaky", alpha=0.1),
    ], [float_tensor("w", w), float_tensor("b", b)], [1, 4, 11, 11], "leaky")
    onnx.save(leaky, str(OUT / "unsupported_op.onnx"))

    fc2 = rng.standard_normal((5, 4 * 11 * 11)).astype(np.float32)
    alpha = hand_built([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="gemm", transB=1, alpha=0.5),
    ], [float_tensor("w", w), float_tensor("b", b), float_tensor("fc", fc2)], [1, 5], "alpha")
    onnx.save(alpha, str(OUT / "gemm_alpha.onnx"))

    escape_w = numpy_helper.from_array(w, "w")
    escape_w.ClearField("raw_data")
    escape_w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../escape.bin"), ("offset", "0"), ("length", str(w.nbytes))):
        e = escape_w.external_data.add()
        e.key, e.value = k, v
    escape = hand_built([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[2, 2])],
                        [escape_w, float_tensor("b", b)], [1, 4, 11, 11], "escape")
    onnx.save(escape, str(OUT / "external_escape.onnx"))

    # Fuzz seeds: valid at the harness's 32x32, so mutations reach the chain walk and the writer.
    FUZZ_SEEDS.mkdir(parents=True, exist_ok=True)
    for batch_norm in (False, True):
        micro = VGG(make_layers([2, "M", 2, "M"], batch_norm=batch_norm), num_classes=3, init_weights=True)
        micro.avgpool = nn.AdaptiveAvgPool2d((8, 8))  # the identity at 32x32: a 1x1 AveragePool
        micro.classifier = nn.Sequential(nn.Linear(2 * 8 * 8, 4), nn.ReLU(True), nn.Dropout(), nn.Linear(4, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(micro.eval(), (torch.zeros(1, 3, 32, 32),), str(FUZZ_SEEDS / f"micro{'_bn' if batch_norm else ''}.onnx"),
                              input_names=["input"], output_names=["logits"], dynamo=False, do_constant_folding=False)
    for name in ("matmul_add.onnx", "unsupported_op.onnx"):
        (FUZZ_SEEDS / name).write_bytes((OUT / name).read_bytes())

    # Inputs already normalised as torchvision's transforms would ((x/255 - mean) / std).
    x224 = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    x250 = rng.standard_normal((1, 3, 250, 230)).astype(np.float32)
    x12 = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
    x_timm = rng.standard_normal((1, 3, 224, 288)).astype(np.float32)
    with torch.no_grad():
        t = torch.from_numpy
        out = dict(
            input_224=x224, input_250x230=x250, input_12=x12, input_timm=x_timm,
            timm_logits_224=tm(t(x224)).numpy(), timm_logits_224x288=tm(t(x_timm)).numpy(),
            vgg16_logits_224=plain(t(x224)).numpy(), vgg16_pool5_250x230=plain.features(t(x250)).numpy(),
            vgg16_bn_logits_224=bn(t(x224)).numpy(), vgg16_bn_pool5_250x230=bn.features(t(x250)).numpy(),
            torch_version=torch.__version__, torchvision_version=torchvision.__version__, timm_version=timm.__version__, onnx_version=onnx.__version__,
        )
    # The exported files compute what torch does (onnx's reference evaluator); the hand-built one
    # is checked against it too (logits before the Softmax: libvgg stops at fc8).
    ev = ReferenceEvaluator(str(OUT / "vgg16_tiny.onnx"))
    assert np.allclose(ev.run(None, {"input": x224})[0], out["vgg16_logits_224"], atol=1e-4)
    before_softmax = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 5])
    mm.graph.output.append(before_softmax)
    out["matmul_add_logits_12"] = ReferenceEvaluator(mm).run(["a"], {"x": x12})[0]
    np.savez(OUT / "expected.npz", **out)
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>9}  {p.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
