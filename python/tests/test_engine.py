"""The engine against the independent float64 reference (python/tests/reference.py).

Metric: relative L2 error of the score map, ‖libvgg − reference‖₂ / ‖reference‖₂, with the
reference in float64. f32 files must stay within 1e-5 (float32 accumulation over up to 25,088
terms per output gives ~1e-6 in practice) with the same top-1 class. f16 weights are rounded to
11 significant bits (relative error ≤ 2⁻¹¹ per weight, random in sign), bf16 to 8 bits (≤ 2⁻⁸):
the score error grows like that rounding times √depth, so the bounds are 5e-3 (f16) and 3e-2
(bf16), with the reference computed from the unrounded weights.
"""
from __future__ import annotations

import json
import subprocess
import threading

import numpy as np
import pytest

import caffe_fixtures as cf
import reference as ref
import vgg
from conftest import VGG_CLI, run_convert


def images(rng, n, h, w, scale=40.0):
    return (rng.standard_normal((n, 3, h, w)) * scale).astype(np.float32)


def reference_scores(arch, weights, x):
    specs, train = cf.ARCHS[arch][1], cf.ARCHS[arch][2]
    return np.stack([ref.scores(specs, weights, img, train) for img in x])


@pytest.mark.parametrize("arch", ["tiny", "tiny_lrn"])
@pytest.mark.parametrize("n,h,w", [(1, 32, 32), (3, 45, 37), (1, 64, 64), (3, 35, 36), (1, 33, 61), (1, 26, 30)])
def test_small_models_match_reference(factory, rng, arch, n, h, w):
    path, weights = factory.model(arch)
    minimum = ref.minimum_input(cf.ARCHS[arch][1], cf.ARCHS[arch][2])
    x = images(rng, n, h, w)
    if min(h, w) < minimum:
        with vgg.Model(path) as m, pytest.raises(vgg.Error) as e:
            m.forward(x)
        assert e.value.status_name == "VGG_ERROR_INPUT_TOO_SMALL" and f"{minimum}×{minimum}" in str(e.value)
        return
    want = reference_scores(arch, weights, x)
    with vgg.Model(path) as m:
        got = m.forward(x)
        assert got.shape == want.shape
        assert ref.relative_l2(got, want) <= 1e-5
        p = m.probabilities(x)
        for i in range(n):
            want_p = ref.softmax_of_mean(want[i])
            assert np.allclose(p[i], want_p, rtol=1e-4, atol=1e-6)
            assert p[i].argmax() == want_p.argmax()


@pytest.mark.parametrize("arch", ["tiny", "tiny_lrn"])
def test_fast_path_equals_reference_kernels(factory, rng, arch):
    path, _ = factory.model(arch)
    x = images(rng, 2, 48, 41)
    with vgg.Model(path, threads=2) as m:
        fast = m.forward(x)
        assert m.kernel_path in ("x86-64-v4", "x86-64-v3", "x86-64")
        m.force_reference = True
        assert m.kernel_path == "reference"
        slow = m.forward(x)
    assert ref.relative_l2(fast, slow.astype(np.float64)) <= 1e-5


@pytest.mark.parametrize("level,path", [(1, "x86-64"), (2, "x86-64-v3"), (3, "x86-64-v4")])
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_every_isa_path_equals_reference_kernels(factory, rng, level, path, dtype):
    model_path, _ = factory.model("tiny_lrn", dtype=dtype)
    x = images(rng, 2, 44, 53)
    with vgg.Model(model_path) as m:
        m.force_reference = True
        slow = m.forward(x).astype(np.float64)
        m.force_reference = False
        try:
            m.isa = level
        except vgg.Error as e:
            assert e.status_name == "VGG_ERROR_UNSUPPORTED"
            pytest.skip(f"this CPU cannot run {path}")
        assert m.kernel_path == path and m.isa == level
        m.bf16_arithmetic = False  # bf16 dot products round further: tested on their own below
        assert ref.relative_l2(m.forward(x), slow) <= 1e-5


@pytest.mark.parametrize("dtype,bound", [("f16", 5e-3), ("bf16", 3e-2)])
def test_half_precision_weights_within_stated_bound(factory, rng, dtype, bound):
    path, weights = factory.model("tiny", dtype=dtype)
    x = images(rng, 2, 40, 40)
    want = reference_scores("tiny", weights, x)
    with vgg.Model(path) as m:
        m.bf16_arithmetic = "always"
        got = m.forward(x)  # with bf16 weights and AVX512-BF16: bf16 dot products
        m.bf16_arithmetic = False
        exact = m.forward(x)
        m.force_reference = True
        slow = m.forward(x)
    assert ref.relative_l2(got, want) <= bound
    assert ref.relative_l2(exact, want) <= bound
    assert ref.relative_l2(exact, slow.astype(np.float64)) <= 1e-5  # fast f16/bf16 loads = reference decoding


def cpu_vendor():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":")[1].strip() for line in f if line.startswith("vendor_id")), "")


def amx_tiles(path):
    """Whether the bf16 model at `path` runs on AMX tiles by default here (the CPU has AMX-TILE and
    AMX-BF16 and Linux granted the tile state), as `vgg bench --json` reports it."""
    r = subprocess.run([VGG_CLI, "bench", "-m", str(path), "--size", "224", "--runs", "1", "--warmup", "0", "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["amx_tiles"]


@pytest.mark.parametrize("size", [224, 257])
def test_bf16_arithmetic_within_stated_bound(factory, rng, size):
    """bf16 dot products (AVX512-BF16) for the Winograd products of a bf16-weight VGG16: the
    transformed inputs and weights (and the fc layers' inputs) are rounded to 8 significant bits
    (≤ 2⁻⁹ each), on top of the bf16 weights themselves. Bound, against the same file computed in f32: relative L2 ≤ 3e-2
    (measured ~2e-2 with random weights at 224 and 384), same top-5 classes. The same bound
    holds for AMX tiles (the default where the CPU has them; at 257 the fc layers too)."""
    path, _ = factory.model("vgg16", dtype="bf16")
    x = images(rng, 2, size, size)
    with vgg.Model(path, threads=2) as m:
        assert m.bf16_arithmetic is True  # the default: the fastest bf16 arithmetic the CPU has
        default = m.forward(x)
        m.bf16_arithmetic = "always"
        assert m.bf16_arithmetic == "always"
        fast = m.forward(x)
        fast_alone = m.forward(x[1:])  # one image: the fc layers take their one-pixel path
        m.bf16_arithmetic = False
        assert m.bf16_arithmetic is False
        exact = m.forward(x)
        exact_alone = m.forward(x[:1])
    if np.array_equal(fast, exact):
        pytest.skip("this CPU lacks AVX512-BF16: bf16 weights are computed in f32")
    assert np.array_equal(exact_alone[0], exact[0]) and np.array_equal(fast_alone[0], fast[1])  # batch-invariant
    top = lambda s: set(np.argsort(-s.reshape(s.shape[0], -1).mean(1))[:5])  # noqa: E731
    assert ref.relative_l2(fast, exact.astype(np.float64)) <= 3e-2
    assert all(top(fast[i]) == top(exact[i]) for i in range(2))
    # By default the 3×3 layers on AMX tiles where the CPU has them (Intel Sapphire Rapids and
    # later; the same roundings as bf16 dot products, other sums), bf16 dot products where they
    # outrun f32 FMAs (AMD), f32 elsewhere.
    if amx_tiles(path):
        assert not np.array_equal(default, exact) and not np.array_equal(default, fast)
        assert ref.relative_l2(default, exact.astype(np.float64)) <= 3e-2
        assert all(top(default[i]) == top(exact[i]) for i in range(2))
    else:
        assert np.array_equal(default, fast if cpu_vendor() == "AuthenticAMD" else exact)


@pytest.mark.parametrize("size", [224, 257, 384])
def test_amx_tiles_give_the_same_sums_on_any_thread_count(factory, rng, size):
    """The 3×3 layers of a bf16 VGG16 on AMX tiles (the default where the CPU has them): 16 tiles
    per tile row, the last 1–15 of a split in a tile of that many rows (257: ragged everywhere),
    the sums kept in the tiles over all input channels; at 257 and 384 the fc layers too (2×2
    and 6×6 pixels per image: 16-pixel tiles and a ragged one). One image alone, the batch,
    and 1, 2 and 3 threads give the same scores bit for bit."""
    path, _ = factory.model("vgg16", dtype="bf16")
    if not amx_tiles(path):
        pytest.skip("no AMX tiles here (the CPU lacks them, or Linux did not grant the tile state)")
    x = images(rng, 2, size, size)
    with vgg.Model(path, threads=1) as m:
        one = m.forward(x)
        for threads in (1, 2, 3):
            m.threads = threads
            assert np.array_equal(m.forward(x), one), threads
            assert np.array_equal(m.forward(x[1:]), one[1:]), threads


def test_vgg16_layer_shapes_fast_vs_reference_kernels(factory, rng):
    """Every VGG16 convolution shape (3→64 … 512→512) through both kernel paths, at 32×32."""
    path, _ = factory.model("vgg16")
    x = images(rng, 1, 32, 32)
    names = [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)] + ["pool5"]
    with vgg.Model(path) as m:
        fast = m.features(x, names)
        m.force_reference = True
        slow = m.features(x, names)
    for name in names:
        assert ref.relative_l2(fast[name], slow[name].astype(np.float64)) <= 1e-5, name


@pytest.mark.parametrize("arch,h,w", [("vgg16", 224, 224), ("vgg16", 225, 225), ("vgg16", 257, 301), ("vgg16", 256, 256),
                                      ("vgg16", 384, 384), ("vgg_cnn_m", 224, 224), ("vgg_cnn_m", 241, 263),
                                      ("vgg19", 224, 224), ("vgg11", 224, 224), ("vgg13", 230, 200),
                                      ("vgg_face", 224, 224)])
def test_full_models_match_float64_reference(factory, rng, arch, h, w):
    path, weights = factory.model(arch)
    x = images(rng, 1, h, w)
    want = reference_scores(arch, weights, x)
    with vgg.Model(path, threads=2) as m:
        got = m.forward(x)
        assert got.shape == want.shape  # 225 uses Caffe's ceil rounding: 113 → 57 → 29 → 15 → 8 → 2×2 scores
        assert ref.relative_l2(got, want) <= 1e-5
        assert m.probabilities(x)[0].argmax() == ref.softmax_of_mean(want[0]).argmax()
    if arch in ("vgg19", "vgg11", "vgg13", "vgg_face"):  # 0.5 GB each: not needed again
        factory.discard(arch)


@pytest.mark.parametrize("tile", [4, 6])
@pytest.mark.parametrize("h,w,level", [(64, 64, 0), (63, 75, 0), (50, 97, 0), (61, 71, 0), (63, 75, 2), (50, 49, 1)])
def test_winograd_equals_direct_and_reference_kernels(factory, rng, h, w, level, tile):
    """Winograd F(4×4, 3×3) and F(6×6, 3×3) (even and odd sizes, partial tiles of every width) against
    direct convolution and the naive reference, on every VGG16 layer up to pool4; error bound stated:
    relative L2 ≤ 1e-5."""
    path, _ = factory.model("vgg16")
    x = images(rng, 1, h, w)
    names = ["conv1_2", "conv2_1", "conv2_2", "conv3_3", "conv4_3", "pool4"]
    with vgg.Model(path, threads=2) as m:
        assert m.winograd and m.winograd_tile == 0
        try:
            m.isa = level
        except vgg.Error:
            pytest.skip("this CPU lacks the ISA level")
        m.winograd_tile = tile
        assert m.winograd_tile == tile
        fast = m.features(x, names)
        m.winograd = False
        direct = m.features(x, names)
        m.force_reference = True
        slow = m.features(x, names)
    for name in names:
        assert ref.relative_l2(fast[name], slow[name].astype(np.float64)) <= 1e-5, name
        assert ref.relative_l2(direct[name], slow[name].astype(np.float64)) <= 1e-5, name


@pytest.mark.parametrize("tile", [0, 4, 6])
@pytest.mark.parametrize("h,w", [(63, 75), (225, 225)])
def test_pooling_fused_into_winograd_is_exact(factory, rng, h, w, tile):
    """A Winograd layer followed by 2×2/2 max pooling writes the pooled map directly unless its
    own output is asked for: both ways must agree bit for bit (odd sizes: Caffe's ceil windows)."""
    path, _ = factory.model("vgg16")
    x = images(rng, 2, h, w)
    pools = ["pool1", "pool2", "pool3", "pool4", "pool5"]
    with vgg.Model(path, threads=2) as m:
        m.winograd_tile = tile
        fused = m.features(x, pools)
        plain = m.features(x, pools + ["conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"])
        m.force_reference = True
        slow = m.features(x[:1], pools) if h < 100 else None  # the naive kernels take a minute at 225
    for name in pools:
        assert np.array_equal(fused[name], plain[name]), name
        if slow is not None:
            assert ref.relative_l2(fused[name][:1], slow[name].astype(np.float64)) <= 1e-5, name


def test_vgg16_batch_of_three(factory, rng):
    path, weights = factory.model("vgg16")
    x = images(rng, 3, 224, 224)
    with vgg.Model(path, threads=2) as m:
        batch = m.forward(x)
        for i in range(3):
            assert np.array_equal(batch[i], m.forward(x[i]))


@pytest.mark.parametrize("size", [384, 224])
def test_vgg16_splits_in_lockstep_give_identical_results(factory, rng, size):
    """Two 384×384 images: conv3_x and conv4_x run in several splits one after another on all
    workers (WinogradPlan.lockstep), their transformed inputs shared; any thread count gives the
    same scores bit for bit as one thread, alone or in the batch. At 224 conv3_x … conv5_x run
    their pairs side by side chunk by chunk (WinogradPlan.interleavedPairs), 4, 3 or 2 at a time
    as the thread count cuts the pair ranges (1, 2, 3, 5 threads), with the same sums."""
    path, _ = factory.model("vgg16")
    x = images(rng, 2, size, size)
    with vgg.Model(path, threads=1) as m:
        one = m.forward(x)
        for threads in (2, 3) if size == 384 else (2, 3, 5):
            m.threads = threads
            assert np.array_equal(m.forward(x), one), threads
            assert np.array_equal(m.forward(x[1:]), one[1:]), threads


@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("dtype,version", [("f32", 2), ("f32", 1), ("f16", 2), ("bf16", 2)])
def test_sparse_fc_inputs_give_the_dense_sums(factory, rng, tmp_path, level, dtype, version):
    """A lone fc pixel whose inputs are mostly zero is summed from its non-zero inputs (or, in bf16
    dot products, tap pairs) only (Session.runSparsePixel; OGROUP1024 weights always,
    runGroupedPixel), and a batch of two with OGROUP1024 weights over the taps either image
    needs (nonZeroInputs): the same floats as alone, as the dense gather over every tap
    of OBLOCK16 weights, and within the float64 reference's bound. Three quarters of
    conv3_1's and of fc6's, fc7's outputs are switched off by their biases; ReLU zeroes part of
    the rest."""
    weights = cf.make_weights("tiny", 3)
    for name in ("conv3_1", "fc6", "fc7"):
        w, b = weights[name]
        b = b.copy()
        b[: len(b) * 3 // 4] = -1e6
        weights[name] = (w, b)
    src = tmp_path / "sparse.caffemodel"
    cf.write_caffemodel(str(src), "tiny", weights=weights)
    path = tmp_path / f"sparse.{dtype}.v{version}.vgg"
    run_convert(src, "-o", path, "--dtype", dtype, "--input-size", 32, "--format-version", version)
    x = images(rng, 2, 32, 32)
    with vgg.Model(path) as m:
        try:
            m.isa = level
        except vgg.Error as e:
            assert e.status_name == "VGG_ERROR_UNSUPPORTED"
            pytest.skip(f"this CPU cannot run ISA level {level}")
        feats = m.features(x[:1], ["pool3", "fc6", "fc7"])
        for name, f in feats.items():
            assert 0 < np.count_nonzero(f) <= 0.25 * f.size, name  # within the sparse path's limit
        for arithmetic in (["always", False] if dtype == "bf16" else [False]):
            m.bf16_arithmetic = arithmetic  # bf16 files: bf16 dot products of tap pairs (AVX512-BF16), or f32
            batch = m.forward(x)  # two pixels: the gather tiles (OGROUP1024: over the taps either input needs)
            for i in range(2):
                assert np.array_equal(m.forward(x[i : i + 1])[0], batch[i]), (arithmetic, i)
        if (dtype, version) == ("f32", 2):  # against every tap of OBLOCK16 weights
            dense = tmp_path / "sparse.f32.v1.vgg"
            run_convert(src, "-o", dense, "--input-size", 32, "--format-version", 1)
            with vgg.Model(dense) as d:
                d.isa = level
                assert np.array_equal(d.forward(x), batch)
        m.force_reference = True
        slow = m.forward(x).astype(np.float64)
    if dtype == "f32":
        assert ref.relative_l2(batch, reference_scores("tiny", weights, x)) <= 1e-5
    assert ref.relative_l2(batch, slow) <= 1e-5


def test_fc_weight_layouts_give_identical_results(factory, rng, tmp_path):
    """VGG16's fc layers from OGROUP1024 weights (format version 2: a lone pixel tap-major over
    its non-zero inputs, several pixels with 4 KiB between a block's taps) and from OBLOCK16
    (version 1): the same floats at batch 1 and 3, at 224 (one fc pixel) and 257 (four), on 1
    and 2 threads."""
    src, _ = factory.caffemodel("vgg16")
    v2, _ = factory.model("vgg16")
    v1 = tmp_path / "vgg16-v1.vgg"
    run_convert(src, "-o", v1, "--format-version", 1)
    try:
        for h, n in ((224, 1), (224, 3), (257, 1)):
            x = images(rng, n, h, h)
            for threads in (1, 2):
                with vgg.Model(v1, threads=threads) as a, vgg.Model(v2, threads=threads) as b:
                    assert np.array_equal(a.forward(x), b.forward(x)), (h, n, threads)
    finally:
        v1.unlink()


def test_features_by_canonical_alias_and_relu_names(factory, rng):
    path, weights = factory.model("tiny")
    x = images(rng, 2, 40, 40)
    with vgg.Model(path) as m:
        f = m.features(x, ["conv1_1", "block2_conv2", "relu2_1", "pool3", "fc7"])
        for i in range(2):
            outs = ref.forward(cf.ARCHS["tiny"][1], weights, x[i], 32)
            assert ref.relative_l2(f["conv1_1"][i], outs["conv1_1"]) <= 1e-5
            assert ref.relative_l2(f["block2_conv2"][i], outs["conv2_2"]) <= 1e-5
            assert ref.relative_l2(f["relu2_1"][i], outs["conv2_1"]) <= 1e-5
            assert ref.relative_l2(f["pool3"][i], outs["pool3"]) <= 1e-5
            assert ref.relative_l2(f["fc7"][i], outs["fc7"]) <= 1e-5
        assert f["conv1_1"].min() >= 0  # post-ReLU, as Caffe's in-place ReLU leaves the blob


def test_features_stop_early_and_work_below_the_classifier_minimum(factory, rng):
    path, weights = factory.model("vgg16")
    x = images(rng, 1, 32, 32)
    with vgg.Model(path) as m:
        f = m.features(x, "pool5")
        assert f["pool5"].shape == (1, 512, 1, 1)
        with pytest.raises(vgg.Error) as e:
            m.features(x, "fc6")
        assert e.value.status_name == "VGG_ERROR_INPUT_TOO_SMALL" and "193×193" in str(e.value)
        with pytest.raises(vgg.Error) as e:
            m.forward(x)
        assert e.value.status_name == "VGG_ERROR_INPUT_TOO_SMALL"
        with pytest.raises(vgg.Error) as e:
            m.features(x, "conv9_9")
        assert e.value.status_name == "VGG_ERROR_NOT_FOUND"


def test_dense_evaluation_matches_own_resize(factory, rng):
    path, weights = factory.model("tiny")
    specs = cf.ARCHS["tiny"][1]
    pixels = rng.integers(0, 256, (50, 67, 3), dtype=np.uint8)
    mean = np.array([103.939, 116.779, 123.68], np.float32)  # BGR
    scales = [32, 41]
    posteriors = []
    for q in scales:
        h, w = ref.resized_size(50, 67, q)
        resized = ref.resize_bilinear(pixels, h, w).astype(np.float32)
        bgr = resized[:, :, ::-1] - mean
        for flip in (False, True):
            img = bgr[:, ::-1] if flip else bgr
            chw = np.ascontiguousarray(img.transpose(2, 0, 1))
            posteriors.append(ref.softmax_of_mean(ref.scores(specs, weights, chw, 32)))
    want = np.mean(posteriors, axis=0)
    with vgg.Model(path) as m:
        top = m.classify(pixels, top=5, scales=scales, flip=True, channel_order="rgb")
        assert [c for c, _, _ in top] == list(np.argsort(-want, kind="stable")[:5])
        for c, p, label in top:
            assert abs(p - want[c]) <= 1e-5 and label is None
        # BGR pixels reversed give the same answer.
        top_bgr = m.classify(pixels[:, :, ::-1], top=5, scales=scales, flip=True, channel_order="bgr")
        assert [c for c, _, _ in top_bgr] == [c for c, _, _ in top]
        # Without scales: the training size (32).
        single = m.classify(pixels, top=1)
        h, w = ref.resized_size(50, 67, 32)
        chw = np.ascontiguousarray((ref.resize_bilinear(pixels, h, w).astype(np.float32)[:, :, ::-1] - mean).transpose(2, 0, 1))
        assert single[0][0] == ref.softmax_of_mean(ref.scores(specs, weights, chw, 32)).argmax()


def test_preprocess_matches_the_documented_resampling(factory, rng):
    path, _ = factory.model("tiny")
    pixels = rng.integers(0, 256, (50, 67, 3), dtype=np.uint8)
    with vgg.Model(path) as m:
        x = m.preprocess(pixels, size=40)
        flipped = m.preprocess(pixels[:, :, ::-1], size=40, channel_order="bgr", flip=True)
    h, w = ref.resized_size(50, 67, 40)
    want = ref.resize_bilinear(pixels, h, w)[:, :, ::-1] - np.array([103.939, 116.779, 123.68])
    assert x.shape == (1, 3, h, w)
    assert np.allclose(x[0], want.transpose(2, 0, 1), atol=1e-3)
    assert np.array_equal(flipped[0], x[0][:, :, ::-1])


def test_eight_threads_each_with_a_session_are_bit_identical(factory, rng):
    path, _ = factory.model("tiny_lrn")
    x = images(rng, 2, 64, 57)
    with vgg.Model(path) as m:
        expected = m.forward(x)
    failures = []

    def worker():
        with vgg.Model(path) as own:
            for _ in range(20):
                if not np.array_equal(own.forward(x), expected):
                    failures.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_python_threads_share_one_model_through_forks(factory, rng):
    """8 Python threads, each with its own fork (session) of one opened model, mixed sizes."""
    path, _ = factory.model("tiny_lrn")
    inputs = [images(rng, 1, 64, 57), images(rng, 2, 35, 41), images(rng, 1, 80, 80)]
    with vgg.Model(path) as m:
        expected = [m.forward(x) for x in inputs]
        forks = [m.fork(threads=1 + i % 2) for i in range(8)]
    failures = []

    def worker(i, model):
        for run in range(20):
            k = (run + i) % 3
            if not np.array_equal(model.forward(inputs[k]), expected[k]):
                failures.append((i, run))
        model.close()

    threads = [threading.Thread(target=worker, args=(i, f)) for i, f in enumerate(forks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_thread_counts_give_identical_results(factory, rng):
    path, _ = factory.model("tiny")
    x = images(rng, 1, 96, 80)
    with vgg.Model(path) as m:
        one = m.forward(x)
        m.threads = 3
        assert m.threads == 3
        assert np.array_equal(m.forward(x), one)


def test_features_only_model(tmp_path, rng):
    """A network without fc layers (like a Keras notop file): features work, classification refuses."""
    specs = [("conv", "conv1_1", 8, 3, 1, 1), ("relu", "relu1_1"), ("pool", "pool1", 2, 2, "MAX")]
    w = np.random.default_rng(3).standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = np.zeros(8, np.float32)
    body = cf.f_bytes(1, b"notop") + cf.f_bytes(3, b"data")
    bottom = "data"
    for spec in specs:
        blobs = [cf.blob_bytes(w, w.shape, "legacy", "packed"), cf.blob_bytes(b, (1, 1, 1, 8), "legacy", "packed")] \
            if spec[0] == "conv" else []
        top = bottom if spec[0] == "relu" else spec[1]
        body += cf.f_bytes(2, cf.layer_bytes(spec, bottom, top, blobs, "v1"))
        bottom = top
    src = tmp_path / "notop.caffemodel"
    src.write_bytes(body)
    run_convert(src, "-o", tmp_path / "notop.vgg")
    x = images(rng, 1, 20, 22)
    with vgg.Model(tmp_path / "notop.vgg") as m:
        assert m.class_count == 0
        f = m.features(x, "pool1")["pool1"]
        want = ref.forward(specs, {"conv1_1": (w, b)}, x[0], 224)["pool1"]
        assert ref.relative_l2(f[0], want) <= 1e-5
        for call in (lambda: m.forward(x), lambda: m.probabilities(x),
                     lambda: m.classify(np.zeros((30, 30, 3), np.uint8), top=1)):
            with pytest.raises(vgg.Error) as e:
                call()
            assert e.value.status_name in ("VGG_ERROR_UNSUPPORTED", "VGG_ERROR_INVALID_ARGUMENT")
            assert "classifier" in str(e.value) or "top_k" in str(e.value)


@pytest.mark.parametrize("dtype, spend_tile", [("f32", 4), ("bf16", 6), ("bf16 default", 6)])
def test_kept_winograd_weights_change_nothing(factory, rng, dtype, spend_tile):
    """A model keeps the Winograd weights of its first 3×3 layers once a session has transformed
    them (≤ 64 MiB; for bf16 dot products packed as those read them): counted in the workspace
    before the first run and the same after it, and the scores are bit for bit those of
    transforming them in the run. A model whose budget went to other tiles' weights first (tile
    forced) keeps fewer of those the default tiles then need, which are transformed per run
    (f32: conv3_2 and conv3_3 at 224×224 after F(4×4); bf16: conv4_2 and conv4_3 after F(6×6));
    the tiles themselves follow from the size alone. Without AVX512-BF16 the bf16 file is
    computed in f32, and the same holds. "bf16 default": the same packed pairs on AMX tiles where
    the CPU has them (≤ 128 MiB packed: every 3×3 layer but conv1_1 at F(4×4))."""
    path, _ = factory.model("vgg16", dtype=dtype.split()[0])
    x = images(rng, 1, 224, 224)
    fresh = vgg.Model(path, threads=2)
    # bf16: the packed pairs of bf16 dot products (or with the default, of AMX tiles)
    arithmetic = {"bf16": "always", "bf16 default": True}.get(dtype, False)
    fresh.bf16_arithmetic = arithmetic
    before = fresh.workspace_bytes(224, 224)
    want = fresh.forward(x)
    assert fresh.workspace_bytes(224, 224) == before
    used = vgg.Model(path, threads=2)
    used.bf16_arithmetic = arithmetic
    used.winograd_tile = spend_tile
    used.forward(x)
    used.winograd_tile = 0
    assert used.workspace_bytes(224, 224) < before  # fewer layers left to keep
    assert np.array_equal(used.forward(x), want)


@pytest.mark.parametrize("threads", [1, 2])
def test_stale_buffers_never_reach_a_later_run(factory, rng, threads):
    """A run zeroes only the border rows and columns the next layer reads (its padding, and
    where the last Winograd tiles reach past the map); nothing else of the buffers is read. So
    after a larger run on NaN input (every map NaN, much of it where the next run's borders lie),
    a 224×224 run gives bit for bit the scores of a fresh session."""
    path, _ = factory.model("vgg16")
    x = images(rng, 1, 224, 224)
    m = vgg.Model(path, threads=threads)
    assert np.isnan(m.forward(np.full((1, 3, 257, 257), np.nan, np.float32))).all()
    got = m.forward(x)
    assert np.isfinite(got).all()
    assert np.array_equal(got, vgg.Model(path, threads=threads).forward(x))


def test_kept_weights_belong_to_the_model(factory, rng):
    """The kept Winograd weights are the model's, shared by its sessions: a fork finds those its
    parent made and the budget they took (here F(4×4) weights, tile forced, so fewer of the
    default tiles' F(6×6) weights fit), and computes the same scores as a model of its own."""
    path, _ = factory.model("vgg16")
    x = images(rng, 1, 224, 224)
    parent = vgg.Model(path, threads=2)
    alone = parent.workspace_bytes(224, 224)
    parent.winograd_tile = 4
    parent.forward(x)
    child = parent.fork(threads=2)
    assert child.workspace_bytes(224, 224) < alone
    assert np.array_equal(child.forward(x), vgg.Model(path, threads=2).forward(x))


# ---- the Python API's contract ---------------------------------------------------------

def test_model_api_surface(factory, rng):
    path, _ = factory.model("tiny")
    m = vgg.Model(path, threads=2)
    assert m.threads == 2 and m.class_count == 10 and m.labels == []
    assert m.layer_names[0] == "conv1_1" and m.info["layers"][0]["alias"] == "block1_conv1"
    assert m.output_shape(64, 96) == (10, 5, 9)
    assert m.output_shape(64, 96, "pool1") == (8, 32, 48)
    assert m.workspace_bytes(64, 96) > 8 * 64 * 96 * 4
    two = m.workspace_bytes(64, 96)
    m.threads = 1
    assert m.workspace_bytes(64, 96) < two  # per-thread Winograd scratch counted
    m.threads = 2
    single = m.forward(images(rng, 1, 32, 32)[0])
    assert single.shape == (10, 1, 1)
    non_contiguous = images(rng, 1, 40, 80)[:, :, :, ::2]
    assert np.array_equal(m.forward(non_contiguous), m.forward(np.ascontiguousarray(non_contiguous)))
    with pytest.raises(ValueError):
        m.forward(np.zeros((1, 4, 32, 32), np.float32))
    with pytest.raises(ValueError) as e:
        m.threads = 0
    assert "1…256" in str(e.value)
    m.close()
    with pytest.raises(vgg.Error):
        m.forward(images(rng, 1, 32, 32))
    m.close()  # twice is fine
