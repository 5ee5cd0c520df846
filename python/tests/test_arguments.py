"""The Python binding accepts only what is meant: wrong kinds raise TypeError, wrong values
ValueError, both naming the argument as the caller wrote it, before anything reaches ctypes
(which truncates integers) or NumPy casts (which would turn a float image into black)."""
import numpy as np
import pytest

import vgg


@pytest.fixture(scope="module")
def model(factory):
    path, _ = factory.model("tiny")
    with vgg.Model(path) as m:
        yield m


def pixels(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---- images and arrays -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int64, np.uint16, bool])
def test_classify_refuses_pixels_that_are_not_uint8(model, dtype):
    image = pixels().astype(dtype)
    if dtype in (np.float32, np.float64):
        image = image / 255.0  # the float image in [0, 1] that a uint8 cast would make black
    with pytest.raises(TypeError, match=r"Model\.classify\(pixels\): expected uint8 .* got dtype"):
        model.classify(image)
    with pytest.raises(TypeError, match=r"Model\.preprocess\(pixels\): expected uint8"):
        model.preprocess(image)


def test_pixels_must_be_height_width_3(model):
    for shape in [(40, 48), (40, 48, 4), (1, 40, 48, 3), (3, 40, 48)]:
        with pytest.raises(ValueError, match=r"classify\(pixels\): expected uint8 pixels of shape \(H, W, 3\)"):
            model.classify(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match=r"height and width in 1…65536, got 0×48"):
        model.classify(np.zeros((0, 48, 3), np.uint8))
    assert len(model.classify(pixels())) == 5


def test_forward_refuses_integer_arrays_and_says_to_preprocess(model):
    raw = np.zeros((1, 3, 32, 32), np.uint8)
    for call in (model.forward, model.probabilities, lambda x: model.features(x, "pool1")):
        with pytest.raises(TypeError, match=r"expected preprocessed float images .* got dtype uint8; .*preprocess\(\)"):
            call(raw)
        with pytest.raises(TypeError, match="got dtype int16"):
            call(raw.astype(np.int16))


def test_forward_on_an_hwc_image_says_nchw(model):
    with pytest.raises(ValueError, match=r"Model\.forward\(x\): expected NCHW or CHW with 3 channels, got shape "
                                         r"\(64, 64, 3\) \(an H×W×3 image\?"):
        model.forward(np.zeros((64, 64, 3), np.float32))
    for shape in [(1, 4, 32, 32), (32, 32), (1, 1, 3, 32, 32)]:
        with pytest.raises(ValueError, match="expected NCHW or CHW with 3 channels"):
            model.forward(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=r"expected 1…65536 images, got 0"):
        model.forward(np.zeros((0, 3, 32, 32), np.float32))


def test_float64_and_float16_inputs_are_converted(model):
    x = (np.random.default_rng(1).standard_normal((1, 3, 40, 40)) * 30).astype(np.float32)
    want = model.forward(x)
    assert np.array_equal(model.forward(x.astype(np.float64)), want)
    assert model.forward(x.astype(np.float16)).shape == want.shape


def test_preprocess_checks_the_resized_size_before_allocating(model):
    with pytest.raises(ValueError, match=r"resizing 1×65535 to a smaller side of 224 gives 224×14679840; expected at most 65536 per side"):
        model.preprocess(np.zeros((1, 65535, 3), np.uint8), size=224)


# ---- integers ------------------------------------------------------------------------------

def test_model_threads_checked_in_python_terms(factory):
    path, _ = factory.model("tiny")
    with pytest.raises(ValueError) as e:
        vgg.Model(path, threads=0)
    assert str(e.value) == "Model(threads=0): expected 1…256, got 0"
    with pytest.raises(ValueError, match=r"Model\(threads=36893488147419103234\): expected 1…256"):
        vgg.Model(path, threads=2**65 + 2)  # ctypes would have run it with 2 threads
    for wrong in (True, 2.0, "2"):
        with pytest.raises(TypeError, match=r"Model\(threads=.*\): expected an integer in 1…256"):
            vgg.Model(path, threads=wrong)
    with pytest.raises(ValueError, match=r"Model\(max_sessions=0\): expected 1…256"):
        vgg.Model(path, max_sessions=0)
    with pytest.raises(TypeError, match=r"Model\(verify_checksums='yes'\): expected True or False"):
        vgg.Model(path, verify_checksums="yes")
    with pytest.raises(ValueError, match="NUL"):
        vgg.Model(str(path) + "\0ignored")
    with pytest.raises(TypeError, match=r"Model\(path=3\): expected a file path"):
        vgg.Model(3)
    assert vgg.Model(path, threads=np.int64(2)).threads == 2


def test_option_setters_refuse_and_keep_the_old_value(model):
    model.threads = 2
    for name, value, error, text in [
            ("threads", 0, ValueError, "Model.threads = 0: expected 1…256, got 0"),
            ("threads", 2**32 + 2, ValueError, "Model.threads = 4294967298: expected 1…256"),
            ("threads", True, TypeError, "Model.threads = True: expected an integer in 1…256, got a bool"),
            ("isa", 4, ValueError, "Model.isa = 4: expected 0…3, got 4"),
            ("winograd_tile", 5, ValueError, "Model.winograd_tile = 5: expected 0, 4 or 6, got 5"),
            ("force_reference", "no", TypeError, "Model.force_reference = 'no': expected True or False"),
            ("winograd", 1, TypeError, "Model.winograd = 1: expected True or False"),
            ("bf16_arithmetic", None, TypeError, "Model.bf16_arithmetic = None: expected True, False or 'always'"),
            ("bf16_arithmetic", "on", TypeError, "Model.bf16_arithmetic = 'on': expected True, False or 'always'")]:
        before = getattr(model, name)
        with pytest.raises(error) as e:
            setattr(model, name, value)
        assert str(e.value).startswith(text), str(e.value)
        assert "VGG_OPTION" not in str(e.value) and "vgg_" not in str(e.value)
        assert getattr(model, name) == before
    assert model.threads == 2
    model.threads = 1


def test_top_is_checked_before_any_allocation(model):
    image = pixels()
    for top in (10**9, 2**32 + 3, 0, -1, model.class_count + 1):
        with pytest.raises(ValueError) as e:
            model.classify(image, top=top)
        assert str(e.value) == f"Model.classify(top={top}): expected 1…{model.class_count}, got {top}"
    with pytest.raises(TypeError, match=r"classify\(top=True\)"):
        model.classify(image, top=True)
    assert len(model.classify(image, top=model.class_count)) == model.class_count


def test_scales_are_checked(model):
    image = pixels()
    with pytest.raises(ValueError, match=r"Model\.classify\(scales=\[4294967552\]\): scales\[0\]: expected 1…65536"):
        model.classify(image, scales=[2**32 + 256])  # ctypes would have run it at 256
    with pytest.raises(ValueError, match=r"scales\[1\]: expected 1…65536, got 0"):
        model.classify(image, scales=[32, 0])
    with pytest.raises(TypeError, match=r"scales\[0\]: expected an integer .* got a bool"):
        model.classify(image, scales=[True])
    with pytest.raises(TypeError, match=r"scales\[0\]: expected an integer .* got float"):
        model.classify(image, scales=[32.5])
    with pytest.raises(TypeError, match=r"Model\.classify\(scales=256\): expected a list of smaller sides"):
        model.classify(image, scales=256)
    with pytest.raises(ValueError, match="at most 64 scales, got 65"):
        model.classify(image, scales=[32] * 65)
    assert model.classify(image, scales=np.array([32, 48])) == model.classify(image, scales=[32, 48])
    with pytest.raises(TypeError, match=r"Model\.classify\(flip='no'\): expected True or False"):
        model.classify(image, flip="no")  # a truthy string must not switch flipping on
    with pytest.raises(ValueError, match=r"channel_order='rgba'\): expected 'rgb' or 'bgr'"):
        model.classify(image, channel_order="rgba")


def test_sizes_are_checked(model):
    with pytest.raises(ValueError, match=r"Model\.output_shape\(height=18446744073709551840\): expected 1…65536"):
        model.output_shape(2**64 + 224, 224)  # ctypes would have computed the shape for 224
    with pytest.raises(ValueError, match=r"Model\.output_shape\(width=0\)"):
        model.output_shape(224, 0)
    with pytest.raises(TypeError, match=r"Model\.workspace_bytes\(height=64\.0\)"):
        model.workspace_bytes(64.0, 64)
    with pytest.raises(ValueError, match=r"Model\.preprocess\(size=0\)"):
        model.preprocess(pixels(), size=0)


# ---- layer names ---------------------------------------------------------------------------

def test_layer_names_with_nul_are_refused(model):
    x = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(ValueError, match=r"layer name 'pool1\\x00junk' contains a NUL character"):
        model.features(x, ["pool1\0junk"])
    with pytest.raises(ValueError, match=r"Model\.output_shape\(layer='pool1\\x00'\).*NUL"):
        model.output_shape(32, 32, "pool1\0")
    with pytest.raises(TypeError, match=r"expected a layer name \(str\), got bytes"):
        model.features(x, [b"pool1"])
    with pytest.raises(TypeError, match="expected a layer name or a list of layer names"):
        model.features(x, b"pool1")
    with pytest.raises(ValueError, match="expected 1…1024 layer names, got 0"):
        model.features(x, [])


# ---- what still comes from the library is worded for Python ------------------------------

def test_library_errors_name_the_python_call(model):
    with pytest.raises(vgg.Error) as e:
        model.forward(np.zeros((1, 3, 20, 20), np.float32))
    assert e.value.status_name == "VGG_ERROR_INPUT_TOO_SMALL"
    assert str(e.value).startswith("Model.forward(x of shape (1, 3, 20, 20)): input 20×20 is too small")
    assert "vgg_session" not in str(e.value) and e.value.library_message.startswith("vgg_")
    with pytest.raises(vgg.Error) as e:
        model.features(np.zeros((1, 3, 32, 32), np.float32), "conv9_9")
    assert e.value.status_name == "VGG_ERROR_NOT_FOUND" and str(e.value).startswith("Model.features(")
    assert "no layer named 'conv9_9'" in str(e.value) and "vgg_" not in str(e.value)


def test_open_and_option_errors_name_the_python_call(model, tmp_path):
    missing = tmp_path / "missing.vgg"
    with pytest.raises(vgg.Error) as e:
        vgg.Model(missing)
    assert str(e.value) == f"Model({str(missing)!r}): cannot open '{missing}': No such file or directory"
    assert e.value.library_message.startswith("vgg_model_open(")
    for level in (1, 2, 3):  # a level this CPU lacks is refused by the library, worded for Python
        try:
            model.isa = level
        except vgg.Error as e:
            assert e.status_name == "VGG_ERROR_UNSUPPORTED"
            assert str(e).startswith(f"Model.isa = {level}: ISA level {level}") and "VGG_OPTION" not in str(e)
    model.isa = 0
