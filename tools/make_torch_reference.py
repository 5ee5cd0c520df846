#!/usr/bin/env python3
"""Writes Tests/fixtures/torch/: small VGGs saved by the real torch, torchvision, timm and
safetensors, and the outputs those frameworks compute on fixed inputs. The files are committed;
this script documents how they were made (it needs `pip install torch torchvision timm
safetensors`; the tests do not run it).

The networks keep VGG's shape (VGG16: 13 convolutions in 5 blocks, 5 max pools; timm's VGG11:
8 convolutions) with narrow channels and a small classifier, built by the libraries' own classes
(torchvision's VGG(make_layers(cfg)), timm's VGG, ConvMlp and ClassifierHead).

  vgg16_tiny.pth             torch.save(state_dict) of torchvision VGG, no BatchNorm
  vgg16_bn_tiny.pth          the same with BatchNorm (random running stats, gamma, beta)
  vgg16_bn_checkpoint.pth    {'epoch', 'arch', 'state_dict' (keys prefixed 'module.'), 'best_acc1' (a tensor), 'optimizer'}
  vgg16_tiny_f16.pth         vgg16_tiny's state dict in float16
  vgg16_bn_legacy.pth        vgg16_bn_tiny in the legacy format (_use_new_zipfile_serialization=False), as
                             torchvision's own 2017-18 VGG downloads are
  vgg16_legacy_v1.pth        vgg16_tiny in the legacy format pickled as torch 0.2-0.3 under Python 2.7 did:
                             torch._utils._rebuild_tensor(storage, offset, size, stride) for tensors,
                             OrderedDict([[key, value], ...]) for the dict
  vgg16_tiny.safetensors     vgg16_tiny's state dict, safetensors.torch.save_file
  timm_vgg11_tiny.safetensors  timm VGG11 (pre_logits 7x7 conv, head.fc), with {'format': 'pt'} metadata as on the hub
  vgg16_whole_model.pth      torch.save(model): a pickled nn.Module (must be refused)
  vgg16_strided.pth          a state dict with a transposed (non-contiguous) classifier.0.weight (refused)
  malicious.pth              a pickle whose REDUCE calls posix.system('touch <marker>') (refused, nothing run)
  expected.npz               inputs and the frameworks' outputs (see main)

It also writes the fuzzers' seeds: Tests/Fuzz/corpus/torch/*.pth and corpus/safetensors/*.safetensors,
a one-block VGG (conv, [BatchNorm], pool, classifier.0/3/6 over the 16x16 map of a 32x32 input) in
a few KB, as the fuzz harness converts at --input-size 32.
"""
import os
import pickle
from collections import OrderedDict
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import safetensors.torch
import timm
import torch
import torchvision
from timm.layers import ClassifierHead
from timm.models.vgg import VGG as TimmVGG, ConvMlp
from torch import nn
from torchvision.models.vgg import VGG, make_layers

OUT = Path(__file__).resolve().parents[1] / "Tests" / "fixtures" / "torch"
# VGG16's configuration ('D') with narrow channels; timm's VGG11 ('A') likewise.
CFG_D = [4, 4, "M", 8, 8, "M", 8, 8, 8, "M", 16, 16, 16, "M", 16, 16, 16, "M"]
CFG_A = [4, "M", 8, "M", 8, 8, "M", 16, 16, "M", 16, 16, "M"]
MARKER = "/tmp/libvgg-torch-fixture-pwned"


def torchvision_vgg(batch_norm: bool) -> nn.Module:
    m = VGG(make_layers(CFG_D, batch_norm=batch_norm), num_classes=10, init_weights=True)
    # A small classifier with torchvision's module positions (classifier.0/3/6).
    m.classifier = nn.Sequential(nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(mod.bias, std=0.1)
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(std=0.2)
                mod.running_mean.normal_(std=0.3)
                mod.running_var.uniform_(0.2, 2.0)
                mod.num_batches_tracked.fill_(1234)
    return m.eval()


def timm_vgg() -> nn.Module:
    m = TimmVGG(CFG_A, num_classes=10)
    m.pre_logits = ConvMlp(16, 32, 7, mlp_ratio=1.0)
    m.head = ClassifierHead(32, 10, pool_type="avg")
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(mod.bias, std=0.1)
    return m.eval()


class Torch03Pickler(pickle.Pickler):
    """Pickles tensors the way torch 0.2-0.3 did (before _rebuild_tensor_v2), and OrderedDicts
    as Python 2.7 did (the items passed to the constructor)."""

    def reducer_override(self, obj):
        if type(obj) is OrderedDict:
            return (OrderedDict, ([[k, v] for k, v in obj.items()],))
        if isinstance(obj, torch.Tensor):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                storage = obj.storage()
            return (torch._utils._rebuild_tensor, (storage, obj.storage_offset(), tuple(obj.size()), obj.stride()))
        return NotImplemented


class RunsACommand:
    """What an attacker pickles: unpickling it calls os.system."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def write_fuzz_seeds():
    corpus = OUT.parents[1] / "Fuzz" / "corpus"
    (corpus / "torch").mkdir(parents=True, exist_ok=True)
    (corpus / "safetensors").mkdir(parents=True, exist_ok=True)
    for bn in (False, True):
        torch.manual_seed(1)
        m = VGG(make_layers([2, "M"], batch_norm=bn), num_classes=3, init_weights=True)
        m.classifier = nn.Sequential(nn.Linear(2 * 16 * 16, 4), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(4, 4), nn.ReLU(True), nn.Dropout(), nn.Linear(4, 3))
        sd = m.state_dict()
        name = "micro_bn" if bn else "micro"
        torch.save(sd, corpus / "torch" / f"{name}.pth")
        safetensors.torch.save_file({k: v for k, v in sd.items() if v.dtype != torch.int64} if not bn else sd,
                                    str(corpus / "safetensors" / f"{name}.safetensors"), metadata={"format": "pt"})
    torch.save({"epoch": 1, "state_dict": {"module." + k: v.half() for k, v in sd.items()}},
               corpus / "torch" / "micro_checkpoint_f16.pth")
    torch.save(sd, corpus / "torch" / "micro_bn_legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"weights": RunsACommand()}, corpus / "torch" / "malicious.pth")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_fuzz_seeds()
    torch.manual_seed(0)
    plain, bn, tm = torchvision_vgg(False), torchvision_vgg(True), timm_vgg()

    torch.save(plain.state_dict(), OUT / "vgg16_tiny.pth")
    torch.save(bn.state_dict(), OUT / "vgg16_bn_tiny.pth")
    checkpoint = {"epoch": 3, "arch": "vgg16_bn", "best_acc1": torch.tensor(12.5),
                  "state_dict": {"module." + k: v for k, v in bn.state_dict().items()}, "optimizer": None}
    torch.save(checkpoint, OUT / "vgg16_bn_checkpoint.pth")
    half = {k: v.half() for k, v in plain.state_dict().items()}
    torch.save(half, OUT / "vgg16_tiny_f16.pth")
    safetensors.torch.save_file(plain.state_dict(), str(OUT / "vgg16_tiny.safetensors"))
    safetensors.torch.save_file(tm.state_dict(), str(OUT / "timm_vgg11_tiny.safetensors"), metadata={"format": "pt"})
    torch.save(bn.state_dict(), OUT / "vgg16_bn_legacy.pth", _use_new_zipfile_serialization=False)
    torch03 = types.SimpleNamespace(Pickler=Torch03Pickler, dump=pickle.dump, __name__="pickle")
    torch.save(plain.state_dict(), OUT / "vgg16_legacy_v1.pth", pickle_module=torch03, _use_new_zipfile_serialization=False)
    torch.save(plain, OUT / "vgg16_whole_model.pth")
    strided = dict(plain.state_dict())
    strided["classifier.0.weight"] = strided["classifier.0.weight"].t().contiguous().t()
    assert not strided["classifier.0.weight"].is_contiguous()
    torch.save(strided, OUT / "vgg16_strided.pth")
    torch.save({"weights": RunsACommand()}, OUT / "malicious.pth")

    # Inputs already normalised as torchvision's transforms would ((x/255 - mean) / std).
    rng = np.random.default_rng(5)
    x224 = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    x250 = rng.standard_normal((1, 3, 250, 230)).astype(np.float32)
    x_timm = rng.standard_normal((1, 3, 256, 320)).astype(np.float32)
    half_model = torchvision_vgg(False)
    half_model.load_state_dict({k: v.float() for k, v in half.items()})
    with torch.no_grad():
        t = torch.from_numpy
        out = dict(
            input_224=x224, input_250x230=x250, input_timm=x_timm,
            vgg16_logits_224=plain(t(x224)).numpy(), vgg16_pool5_250x230=plain.features(t(x250)).numpy(),
            vgg16_features28_250x230=plain.features[:29](t(x250)).relu().numpy(),
            vgg16_bn_logits_224=bn(t(x224)).numpy(), vgg16_bn_pool5_250x230=bn.features(t(x250)).numpy(),
            vgg16_f16_logits_224=half_model(t(x224)).numpy(),
            timm_logits_224=tm(t(x224)).numpy(), timm_logits_256x320=tm(t(x_timm)).numpy(),
            torch_version=torch.__version__, torchvision_version=torchvision.__version__,
            timm_version=timm.__version__, safetensors_version=safetensors.__version__,
        )
    np.savez(OUT / "expected.npz", **out)
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>9}  {p.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
