"""Streamed image folders: DataLoader workers decoding files, the Krizhevsky 2012 recipe, resume order.

Folders are generated here (tiny JPEG and PNG files); the in-memory path (PIL decoding, whole-tensor
statistics), numpy and torchvision's own RandomResizedCrop are the references.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchvision.io import encode_jpeg, encode_png, write_file

from bad_files import png_header_only

import dlnotes
from dlnotes.config import validate
from dlnotes.collect import load_data
from dlnotes.data.stream import Loader
from dlnotes.engine.batching import batches
from dlnotes.errors import UserError

# torchvision 0.29 announces that its image decoders will move to TorchCodec; they are what this uses today
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def write_folder(root: Path, per_class: int, classes=("cat", "dog", "owl"), size=(40, 56), fmt="jpg", seed=0):
    """Class folders of random images whose colour depends on the class (so a model can learn it)."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = (int(v) for v in rng.integers(size[0], size[1], 2))
            img = torch.from_numpy(rng.integers(0, 160, (3, h, w), dtype=np.uint8))
            img[c % 3] += 90
            data = encode_jpeg(img, quality=90) if fmt == "jpg" else encode_png(img)
            write_file(str(root / name / f"{i:05d}.{fmt}"), data)
    return root


def config(data: dict, model: dict | None = None, train: dict | None = None) -> dict:
    return {"name": "stream", "seed": 0,
            "data": {"name": "image_folder", "batch_size": 16, "val_fraction": 0.2, **data},
            "model": model or {"name": "lenet"},
            "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}, **(train or {})}}


def small_alexnet(tmp_path, per_class, test_per_class, epochs=1):
    """A width-reduced AlexNet at 64x64 on a generated folder, the paper's recipe, 2 workers."""
    write_folder(tmp_path / "train", per_class, size=(72, 96))
    write_folder(tmp_path / "test", test_per_class, size=(72, 96), seed=1)
    cfg = config({"root": str(tmp_path / "train"), "test_root": str(tmp_path / "test"), "image_size": 64,
                  "augment_recipe": "krizhevsky", "workers": 2, "batch_size": 32},
                 {"name": "alexnet", "width": 0.1, "dropout": 0.0},
                 # Adam: the paper's SGD (lr 0.01, momentum 0.9) is still on the ln(3) plateau after one epoch
                 # of ~75 steps at chance (0.333 measured); Adam at 1e-3 reaches 1.0 in that epoch
                 {"epochs": epochs, "scheduler": {"name": "plateau", "patience": 1},
                  "optimizer": {"name": "adam", "lr": 0.001}})
    path = tmp_path / "alexnet.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = dlnotes.train(path, out=tmp_path / "run")
    loaded = dlnotes.Run.load(tmp_path / "run")
    metrics = loaded.evaluate("test")
    assert metrics["loss"] == pytest.approx(run.metrics["loss"], rel=1e-5)  # same test view, same statistics
    rows = loaded.predict(tmp_path / "test" / "owl")
    assert len(rows) == test_per_class and {r["prediction"] for r in rows} <= {"cat", "dog", "owl"}
    owl_recall = metrics["confusion_matrix"][2][2] / test_per_class
    assert sum(r["prediction"] == "owl" for r in rows) / test_per_class == pytest.approx(owl_recall)
    meta = loaded.meta["preprocess"]
    assert meta["recipe"] == "krizhevsky" and len(meta["pca_eigval"]) == 3 and "streamed" in meta["loading"]
    return run, metrics


def test_small_alexnet_streams_trains_evaluates_and_predicts(tmp_path):
    small_alexnet(tmp_path, per_class=50, test_per_class=10)


@pytest.mark.slow
def test_small_alexnet_one_epoch_on_thousands_of_jpegs(tmp_path):
    run, metrics = small_alexnet(tmp_path, per_class=1000, test_per_class=100)
    assert metrics["accuracy"] > 0.5  # the class colour is easy; chance is 1/3


def test_streamed_batches_equal_the_in_memory_ones(tmp_path):
    """No augmentation: the streamed split (torchvision.io in workers, statistics by streaming sums)
    gives the in-memory path's tensors (PIL decoding, statistics of the whole tensor) batch by batch."""
    write_folder(tmp_path / "f", 12, fmt="png")  # lossless: both decoders must agree exactly
    data = {"root": str(tmp_path / "f"), "image_size": 20, "stats_images": 0}
    memory = load_data(validate(config({**data, "stream": False})))
    stream = load_data(validate(config({**data, "stream": True, "workers": 2})))
    assert not torch.is_tensor(stream.train.x) and torch.is_tensor(memory.train.x)
    np.testing.assert_allclose(stream.preprocess["x_mean"], memory.preprocess["x_mean"], rtol=1e-6)
    np.testing.assert_allclose(stream.preprocess["x_std"], memory.preprocess["x_std"], rtol=1e-5)
    for name in ("train", "val", "test"):
        a, b = memory.split(name), stream.split(name)
        kw = dict(shuffle=name == "train")
        order = [(torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)) for _ in range(2)]
        got = list(batches(b, 7, torch.device("cpu"), generator=order[0][0], augment_generator=order[0][1], **kw))
        want = list(batches(a, 7, torch.device("cpu"), generator=order[1][0], **kw))
        assert len(got) == len(want) == math.ceil(len(a) / 7)
        for (xg, yg), (xw, yw) in zip(got, want):
            torch.testing.assert_close(xg, xw, atol=2e-5, rtol=0)
            assert torch.equal(yg, yw)


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")  # 3 workers on 2 cores
def test_resume_and_worker_count_keep_the_augmented_order(tmp_path):
    """Epoch 2 after restoring the generators (as --resume does) equals epoch 2 of one go, and the
    crops, flips and colour noise do not depend on how many workers decode (0, 1, 2 or 3)."""
    write_folder(tmp_path / "f", 8)
    cfg = validate(config({"root": str(tmp_path / "f"), "image_size": 24, "augment_recipe": "krizhevsky"}))
    train = load_data(cfg).train

    def epochs(workers, state=None, n=2):
        g, a = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
        if state:
            g.set_state(state[0]), a.set_state(state[1])
        loader = Loader(train.x, 8, torch.device("cpu"), shuffle=True, generator=g, augment_generator=a,
                        workers=workers)
        out = [torch.cat([x for x, _ in loader]) for _ in range(n)]
        return out, (g.get_state(), a.get_state())

    (first, second), _ = epochs(0)
    assert not torch.equal(first, second)  # a new order and new crops each epoch
    _, after_one = epochs(0, n=1)
    (resumed,), _ = epochs(2, state=after_one, n=1)
    torch.testing.assert_close(resumed, second, rtol=0, atol=0)
    for workers in (1, 3):
        (again,), _ = epochs(workers, n=1)
        torch.testing.assert_close(again, first, rtol=0, atol=0)


def test_resumed_streaming_run_has_the_same_weights(tmp_path):
    write_folder(tmp_path / "f", 8, size=(20, 28))
    cfg = config({"root": str(tmp_path / "f"), "image_size": 16, "augment_recipe": "random_resized_crop",
                  "workers": 0}, train={"epochs": 2})  # workers do not change the order (test above)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dlnotes.train(path, out=tmp_path / "once")
    dlnotes.train(path, out=tmp_path / "twice", overrides=["train.epochs=1"])
    dlnotes.train(None, resume=tmp_path / "twice", overrides=["train.epochs=2"])
    assert (tmp_path / "once/model.safetensors").read_bytes() == (tmp_path / "twice/model.safetensors").read_bytes()


def test_pca_lighting_matches_numpy():
    """Section 4.1 per pixel: I_xy + [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T, with p_i, l_i from numpy's eigh
    of the pixels' covariance."""
    from dlnotes.data.transforms import pca_lighting, pca_of_pixels

    rng = np.random.default_rng(0)
    pixels = rng.random((50, 3)) @ np.array([[1.0, 0.5, 0.2], [0.0, 0.8, 0.3], [0.0, 0.0, 0.4]])
    p = torch.from_numpy(pixels)
    stats = pca_of_pixels(len(pixels), p.sum(0), p.T @ p)
    lam, vec = np.linalg.eigh(np.cov(pixels.T, bias=True))
    lam, vec = lam[::-1], vec[:, ::-1]
    np.testing.assert_allclose(stats["pca_eigval"], lam, rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.sum(np.array(stats["pca_eigvec"]) * vec, 0)), 1, rtol=1e-5)  # up to sign
    np.testing.assert_allclose(stats["x_mean"], pixels.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats["x_std"], pixels.std(0), rtol=1e-5)

    image = rng.random((3, 2, 4)).astype(np.float32)
    alpha = np.array([0.05, -0.12, 0.02], dtype=np.float32)
    want = image.copy()
    for y in range(2):
        for x in range(4):
            want[:, y, x] += sum(vec[:, i] * alpha[i] * lam[i] for i in range(3))
    got = pca_lighting(torch.from_numpy(image), torch.tensor(lam.copy()), torch.tensor(vec.copy()), torch.from_numpy(alpha))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_crops_flips_and_ten_crop_by_hand():
    import torchvision.transforms.v2.functional as TF

    from dlnotes.data.transforms import ImageTransform, random_resized_crop_params
    from dlnotes.data.views import centre_crop, resize_short, short_side, ten_crops

    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)  # (H, W, C), as decoded
    crops = ten_crops(img, 4)
    corners = [img[:4, :4], img[:4, 4:], img[2:, :4], img[2:, 4:], img[1:5, 2:6]]
    for k, c in enumerate(corners):
        assert np.array_equal(crops[k], c) and np.array_equal(crops[5 + k], c[:, ::-1])
    t = torch.from_numpy(img).permute(2, 0, 1)  # torchvision's crops (the GPU path's) are the same
    for k, c in enumerate(TF.five_crop(t, [4, 4])):
        assert torch.equal(c, torch.from_numpy(np.ascontiguousarray(crops[k])).permute(2, 0, 1))
    for h, w, s in [(7, 10, 4), (9, 9, 4), (10, 7, 5), (6, 8, 3)]:  # offsets rounded half to even, as torchvision
        a = np.zeros((h, w, 1), np.uint8)
        a[..., 0] = np.arange(h * w).reshape(h, w) % 251
        want = TF.center_crop(torch.from_numpy(a).permute(2, 0, 1), [s, s])
        assert torch.equal(torch.from_numpy(np.ascontiguousarray(centre_crop(a, s))).permute(2, 0, 1), want)
    for h, w in [(375, 500), (500, 375), (300, 301), (256, 256)]:  # torchvision's output size for [size]
        want = TF.resize(torch.zeros(1, h, w, dtype=torch.uint8), [256], antialias=True).shape[-2:]
        assert resize_short(np.zeros((h, w, 1), np.uint8), 256).shape[:2] == tuple(want)
    assert short_side(224) == 256
    # the test view: short side to 256 * s / 224, its central square, then the central s x s
    u8 = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    view = ImageTransform(28, "krizhevsky")(u8)
    assert view.shape == (3, 28, 28)
    torch.testing.assert_close(view, torch.from_numpy(u8[2:30, 6:34]).permute(2, 0, 1).float() / 255)  # no resize
    # the same random numbers as torchvision's RandomResizedCrop, from our generator
    from torchvision.transforms import RandomResizedCrop

    for seed in range(20):
        torch.manual_seed(seed)
        want = RandomResizedCrop.get_params(torch.zeros(3, 50, 90), [0.08, 1.0], [3 / 4, 4 / 3])
        assert random_resized_crop_params(50, 90, torch.Generator().manual_seed(seed)) == want


def test_resize_is_torchvisions_antialiased_bilinear_to_a_grey_level():
    """Pillow's bilinear filter (views.resize) against torch's antialiased bilinear on the same pixels."""
    import torchvision.transforms.v2.functional as TF

    from dlnotes.data.views import resize

    rng = np.random.default_rng(1)
    for (h, w), (nh, nw) in [((60, 80), (24, 24)), ((24, 30), (64, 50)), ((37, 53), (37, 20))]:
        a = (rng.random((h, w, 3)) * 40 + np.linspace(0, 200, w)[None, :, None]).astype(np.uint8)
        got = resize(a, nh, nw).astype(int)
        want = TF.resize(torch.from_numpy(a).permute(2, 0, 1), [nh, nw], antialias=True).permute(1, 2, 0).numpy()
        assert got.shape == want.shape and np.abs(got - want).max() <= 1


def test_ten_crop_output_is_the_log_of_the_mean_softmax():
    from dlnotes.engine.evaluate import outputs

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    x = torch.randn(5, 10, 3, 2, 2)
    out, y = outputs(model, [(x, torch.arange(5))], torch.device("cpu"))
    with torch.no_grad():
        want = torch.stack([model(x[i]).softmax(-1).mean(0).log() for i in range(5)])
    torch.testing.assert_close(out, want)
    assert torch.equal(y, torch.arange(5))


def test_path_choice_and_memory_budget(tmp_path, capsys):
    write_folder(tmp_path / "f", 4, size=(10, 12))
    base = {"root": str(tmp_path / "f"), "image_size": 64}
    memory = load_data(validate(config(base)))
    assert torch.is_tensor(memory.train.x) and "in memory" in memory.dataset.loading
    # 12 images x 3 x 64 x 64 x 4 bytes = 0.56 MiB: over a 0.0005 GiB budget
    streamed = load_data(validate(config({**base, "memory_limit_gb": 0.0005})))
    assert not torch.is_tensor(streamed.train.x)
    assert "over data.memory_limit_gb = 0.0005" in streamed.dataset.loading
    with pytest.raises(UserError, match="data.stream: auto"):
        load_data(validate(config({**base, "memory_limit_gb": 0.0005, "stream": False})))
    with pytest.raises(UserError, match="augment_recipe krizhevsky"):
        load_data(validate(config({**base, "augment_recipe": "krizhevsky", "stream": False})))
    with pytest.raises(UserError, match="data.ten_crop"):
        load_data(validate(config({**base, "ten_crop": True})))
    with pytest.raises(UserError, match="'sometimes' is not allowed"):
        validate(config({**base, "stream": "sometimes"}))


def test_plateau_divides_the_lr_by_ten_when_validation_stalls(tmp_path):
    from dlnotes.engine.optim import build_scheduler

    cfg = validate(config({"root": "x"}, train={"scheduler": {"name": "plateau", "patience": 1}}))
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = build_scheduler(cfg, opt)
    lrs = []
    for loss in (1.0, 0.9, 0.95, 0.95, 0.95, 0.8):
        sched.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001, 0.001])
    write_folder(tmp_path / "f", 3, size=(10, 12))
    no_val = config({"root": str(tmp_path / "f"), "image_size": 16, "val_fraction": 0.0},
                    train={"scheduler": {"name": "plateau"}})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(no_val))
    with pytest.raises(UserError, match="needs a validation split"):
        dlnotes.train(path, out=tmp_path / "run")


def test_alexnet_imagenet_config_states_the_recipe():
    from dlnotes.config import load_config
    from dlnotes.summary import config_summary

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs/alexnet_imagenet.yaml")
    d = cfg.extras("data")
    assert d["augment_recipe"] == "krizhevsky" and cfg.train.scheduler.name == "plateau"
    assert cfg.train.optimizer.name == "sgd" and cfg.train.optimizer.lr == 0.01
    assert cfg.extras("train.optimizer") == {"momentum": 0.9, "weight_decay": 0.0005}
    table = config_summary(cfg)
    assert table["total_params"] == 62_378_344
    assert "random 224x224 crops" in table["recipe"]


@pytest.mark.parametrize("n,world", [(7, 2), (10, 3), (8, 4)])
def test_each_rank_reads_its_share_as_distributed_sampler_does(n, world):
    """Rank r of ``world`` gets what torch's DistributedSampler gives it (without its own shuffle) applied
    to the epoch's permutation, which is the single-process one: the data order does not depend on world."""
    from torch.utils.data import DistributedSampler

    from dlnotes.data.stream import SeededSampler

    perm = list(SeededSampler(n, True, torch.Generator().manual_seed(5)))
    shares = []
    for rank in range(world):
        ours = list(SeededSampler(n, True, torch.Generator().manual_seed(5), None, rank, world))
        ref = [perm[i] for i in DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)]
        assert ours == ref
        shares.append(ours)
    assert sorted(set(sum(shares, []))) == list(range(n)) and len({len(s) for s in shares}) == 1


def test_gpu_decoding_needs_a_gpu_run(tmp_path):
    write_folder(tmp_path / "f", 4, size=(10, 12))
    cfg = validate(config({"root": str(tmp_path / "f"), "image_size": 8, "stream": True, "decode": "cuda",
                           "standardize": False}))
    with pytest.raises(UserError, match="data.decode: cuda"):
        batches(load_data(cfg).train, 4, torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_decoding_matches_cpu_decoding(tmp_path):
    """nvJPEG and libjpeg-turbo may round differently: the same images to within a few grey levels."""
    write_folder(tmp_path / "f", 6, size=(40, 56))
    data = {"root": str(tmp_path / "f"), "image_size": 32, "augment_recipe": "krizhevsky"}
    cpu = load_data(validate(config({**data, "decode": "cpu"})))
    gpu = load_data(validate(config({**data, "decode": "cuda"})))
    dev = torch.device("cuda")
    a = torch.cat([x for x, _ in batches(cpu.test, 8, dev)])
    b = torch.cat([x for x, _ in batches(gpu.test, 8, dev)])
    std = torch.tensor(cpu.preprocess["x_std"], device=dev).view(1, -1, 1, 1)
    assert ((a - b).abs() * std).mean() < 2 / 255


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    write_folder(tmp_path / "f", 3, size=(10, 12))
    (tmp_path / "f" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = load_data(validate(config({"root": str(tmp_path / "f"), "image_size": 8, "stream": True,
                                    "standardize": False, "workers": 1})))
    with pytest.raises(UserError, match=r"^'.*broken\.jpg' is not a readable image") as e:
        for name in ("train", "val", "test"):  # decoded in a worker process
            list(batches(data.split(name), 4, torch.device("cpu")))
    assert "\n" not in str(e.value)


def test_ten_crop_inputs_are_normalised_per_channel():
    from dlnotes.data.prepare import normalize

    pre = {"kind": "image", "x_mean": [0.1, 0.2, 0.3], "x_std": [0.5, 0.25, 2.0]}
    x = torch.rand(2, 10, 3, 4, 4)
    want = torch.stack([normalize(x[:, k], pre) for k in range(10)], 1)
    torch.testing.assert_close(normalize(x, pre), want)


def test_kept_batches_are_never_overwritten(tmp_path):
    """Workers hand over uint8 batches and the main process makes each float batch in fresh memory: every
    batch of ``list(loader)``, and a view kept from a loop that lets go of the batches over two epochs,
    keeps the images it had, equal to the single-process loader's."""
    write_folder(tmp_path / "f", 20, size=(30, 40))
    cfg = validate(config({"root": str(tmp_path / "f"), "image_size": 16, "augment_recipe": "krizhevsky"}))
    train = load_data(cfg).train

    def loader(workers):
        return Loader(train.x, 3, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0),
                      augment_generator=torch.Generator().manual_seed(1), workers=workers)

    want = [x.clone() for x, _ in loader(0)]
    kept = list(loader(2))  # every batch held at once
    assert len(kept) == len(want) > 2 * 2 + 3  # more batches than the workers have in flight
    for got, w in zip(kept, want):
        torch.testing.assert_close(got[0], w, rtol=0, atol=0)
    streamed, views = loader(2), []
    for epoch in range(2):
        for i, (x, _) in enumerate(streamed):
            if epoch == 0:  # the same order and crops as the single-process loader's
                torch.testing.assert_close(x, want[i], rtol=0, atol=0)
            if i % 5 == 0:
                views.append((x[0, 0].clone(), x[0, 0], x.untyped_storage()))
    for copy, view, _ in views:
        torch.testing.assert_close(view, copy, rtol=0, atol=0)
    assert len({s.data_ptr() for _, _, s in views}) == len(views)  # each kept batch its own memory


def test_streamed_batches_are_float32_whatever_the_default_dtype(tmp_path):
    write_folder(tmp_path / "f", 4, size=(30, 40))
    train = load_data(validate(config({"root": str(tmp_path / "f"), "image_size": 16, "stream": True}))).train
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for workers in (0, 2):
            (x, _), *_ = list(Loader(train.x, 4, torch.device("cpu"), workers=workers))
            assert x.dtype == torch.float32
    finally:
        torch.set_default_dtype(before)


def test_an_unreadable_test_image_keeps_the_trained_run(tmp_path):
    """Streamed test images are read only for the test: one that cannot be read is named, and the
    training already done stays, to be finished by --resume once the file is fixed."""
    write_folder(tmp_path / "train", 6, size=(20, 24))
    write_folder(tmp_path / "test", 2, size=(20, 24), seed=1)
    good = (tmp_path / "test" / "owl" / "00001.jpg").read_bytes()
    (tmp_path / "test" / "owl" / "00001.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cfg = config({"root": str(tmp_path / "train"), "test_root": str(tmp_path / "test"), "image_size": 16,
                  "stream": True, "workers": 0})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match=r"00001\.jpg' is not a readable image.*checkpoint is kept.*--resume"):
        dlnotes.train(path, out=tmp_path / "run", quiet=True)
    assert (tmp_path / "run" / "model.safetensors").is_file() and not (tmp_path / "run" / "metrics.json").exists()
    (tmp_path / "test" / "owl" / "00001.jpg").write_bytes(good)
    run = dlnotes.train(None, resume=tmp_path / "run", quiet=True)
    assert "accuracy" in run.metrics and (tmp_path / "run" / "metrics.json").is_file()


def test_a_pass_left_early_then_a_full_pass_still_gives_the_right_images(tmp_path):
    """Breaking out of a pass (early stopping, an exception) leaves batches in flight in the persistent
    workers; the next pass must not read them, nor mix them with its own."""
    write_folder(tmp_path / "f", 20, size=(30, 40))
    cfg = validate(config({"root": str(tmp_path / "f"), "image_size": 16, "augment_recipe": "krizhevsky"}))
    train = load_data(cfg).train

    def passes(workers):
        loader = Loader(train.x, 3, torch.device("cpu"), shuffle=True, generator=torch.Generator().manual_seed(0),
                        augment_generator=torch.Generator().manual_seed(1), workers=workers)
        first = []
        for i, (x, _) in enumerate(loader):
            first.append(x.clone())
            if i == 1:
                break
        return first, [x.clone() for x, _ in loader], [x.clone() for x, _ in loader]

    want, got = passes(0), passes(2)
    for a, b in zip(want, got):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_the_gpu_decode_path_runs_the_same_checks_and_views(tmp_path):
    """``decode: cuda``'s code run on the CPU (torchvision's decode_jpeg takes a device): plain JPEGs travel
    as bytes, everything else (a CMYK JPEG, a PNG) is decoded by the checked decoder in the worker, a bomb
    is refused there; the views equal the CPU path's to a grey level or two (torch's resize vs Pillow's)."""
    from PIL import Image

    from dlnotes.data.gpu_decode import checked_bytes, decode_batch
    from dlnotes.data.stream import collate_sources

    write_folder(tmp_path / "f", 3, size=(40, 56))
    Image.fromarray(np.full((50, 60, 3), 90, np.uint8)).convert("CMYK").save(tmp_path / "f" / "cat" / "cmyk.jpg")
    Image.fromarray(np.full((50, 60, 3), 200, np.uint8)).save(tmp_path / "f" / "dog" / "flat.png")
    data = {"root": str(tmp_path / "f"), "image_size": 24, "augment_recipe": "krizhevsky", "val_fraction": 0.0}
    cpu = load_data(validate(config({**data, "decode": "cpu"})))
    gpu = load_data(validate(config({**data, "decode": "cuda"})))
    files = gpu.test.x
    items = [files[i] for i in range(len(files))]
    kinds = {Path(files.path(i)).name: items[i][0].dim() for i in range(len(files))}
    assert kinds.get("cmyk.jpg", 3) == 3 and kinds.get("flat.png", 3) == 3 and 1 in kinds.values()
    got, labels = decode_batch(collate_sources(items), files, torch.device("cpu"))
    want = torch.cat([x for x, _ in batches(cpu.test, 64, torch.device("cpu"))])
    std = torch.tensor(cpu.preprocess["x_std"]).view(1, -1, 1, 1)
    assert got.shape == want.shape and ((got - want).abs() * std).max() < 3 / 255
    assert torch.equal(labels, cpu.test.y)
    png_header = png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(UserError, match="more than 64,000,000 pixels"):
        checked_bytes(str(png_header), 3)
