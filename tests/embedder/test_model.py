"""SDML model and loss: toy-problem sanity, normalization, ONNX parity, binarized search."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from osld.embedder.model import EmbeddingNet, NormSoftmaxLoss  # noqa: E402


def test_norm_softmax_loss_and_gradients_on_a_toy_problem():
    torch.manual_seed(0)
    loss_fn = NormSoftmaxLoss(num_classes=4, dim=8, temperature=0.05)
    emb = torch.randn(16, 8, requires_grad=True)
    labels = torch.arange(4).repeat(4)
    loss = loss_fn(emb, labels)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.isfinite(loss_fn.proxies.grad).all()
    # an embedding equal to its own proxy (and far from the others) gives a loss near zero
    with torch.no_grad():
        loss_fn.proxies.copy_(torch.eye(4, 8))
    assert loss_fn(torch.eye(4, 8), torch.arange(4)).item() < 1e-3
    # the temperature scales the logits: a higher one gives a flatter, higher loss
    hot = NormSoftmaxLoss(4, 8, temperature=1.0)
    with torch.no_grad():
        hot.proxies.copy_(torch.eye(4, 8))
    assert hot(torch.eye(4, 8), torch.arange(4)).item() > 0.5



def test_background_samples_are_pushed_away_from_every_proxy():
    torch.manual_seed(0)
    loss_fn = NormSoftmaxLoss(num_classes=5, dim=8, temperature=0.05, outlier_weight=1.0)
    with torch.no_grad():
        loss_fn.proxies.copy_(torch.eye(5, 8))
    # a background patch embedded right on proxy 0: the outlier term is large; equally far from all: ~0
    on_proxy = torch.eye(1, 8).clone().requires_grad_(True)
    assert loss_fn(on_proxy, torch.tensor([-1])).item() > 10
    assert abs(loss_fn(torch.zeros(1, 8) + torch.eye(8)[5:].sum(0), torch.tensor([-1])).item()) < 1e-4
    opt = torch.optim.SGD([on_proxy], lr=0.05)
    start = torch.nn.functional.cosine_similarity(on_proxy, loss_fn.proxies).max().item()
    for _ in range(20):
        opt.zero_grad()
        loss_fn(on_proxy, torch.tensor([-1])).backward()
        opt.step()
    assert torch.nn.functional.cosine_similarity(on_proxy, loss_fn.proxies).max().item() < start - 0.3
    # labelled samples keep the plain normalized softmax: mixing in a background sample adds only its term
    labelled = torch.eye(5, 8)
    plain = loss_fn(labelled, torch.arange(5)).item()
    mixed = loss_fn(torch.cat([labelled, torch.eye(1, 8)]), torch.tensor([0, 1, 2, 3, 4, -1])).item()
    assert mixed == pytest.approx(plain + loss_fn(torch.eye(1, 8), torch.tensor([-1])).item(), rel=1e-5)

@pytest.fixture(scope="module")
def tiny_net():
    torch.manual_seed(0)
    return EmbeddingNet(dim=32, pretrained=True, frozen_blocks=4)


def test_outputs_are_l2_normalized(tiny_net):
    x = torch.rand(3, 3, 64, 64) * 255
    with torch.no_grad():
        out = tiny_net.eval()(x)
    assert out.shape == (3, 32)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


def test_a_few_optimizer_steps_lower_the_loss(tiny_net):
    torch.manual_seed(0)
    net = tiny_net.train()
    loss_fn = NormSoftmaxLoss(4, 32)
    x = torch.rand(8, 3, 64, 64) * 255
    y = torch.arange(4).repeat(2)
    opt = torch.optim.Adam([*net.head_parameters(), *loss_fn.parameters()], lr=1e-2)
    losses = []
    for _ in range(8):
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_frozen_blocks_do_not_train(tiny_net):
    frozen = list(tiny_net.backbone.children())[0]
    assert all(not p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in tiny_net.head_parameters())


@pytest.mark.filterwarnings("error::DeprecationWarning")  # the supported (torch.export) exporter, not TorchScript
def test_onnx_output_matches_torch(tiny_net, tmp_path):
    from osld.embedder.onnx import OnnxEmbedder
    from osld.embedder.preprocess import batch_inputs
    from osld.embedder.train import export_onnx

    path = export_onnx(tiny_net.eval(), tmp_path / "e.onnx", size=64)
    onnx_emb = OnnxEmbedder(path)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in [(30, 90), (64, 64), (200, 20)]]
    with torch.no_grad():
        ref = tiny_net(torch.from_numpy(batch_inputs(crops, 64))).numpy()
    np.testing.assert_allclose(onnx_emb.embed(crops), ref, atol=1e-4)
    assert onnx_emb.dim == 32 and onnx_emb.size == 64


def test_binarized_search_returns_the_same_top1_as_float(tmp_path, shipped_embedder, logo_png):
    from osld.data.images import load_rgba
    from osld.embedder.preprocess import flatten_alpha
    from osld.registry import Registry

    root = tmp_path / "reg"
    for i in range(6):
        Registry(root).add(f"brand{i}", [logo_png(100 + i)], sync=False)
    queries = [flatten_alpha(load_rgba(p), "white") for p in sorted(root.glob("*/*.png"))]
    emb = shipped_embedder.embed(queries)
    float_matches = Registry(root, shipped_embedder).search(emb, k=1)
    top_float = [m[0].brand for m in float_matches]
    assert top_float == [f"brand{i}" for i in range(6)]
    for rescore in (True, False):
        binary_matches = Registry(root, shipped_embedder, binary=True, rescore=rescore).search(emb, k=1)
        assert [m[0].brand for m in binary_matches] == top_float
        # either way the similarity is on the cosine scale that MatchConfig.min_sim uses
        for f, b in zip(float_matches, binary_matches, strict=True):
            assert b[0].sim == pytest.approx(f[0].sim, abs=1e-4 if rescore else 0.05)


def test_efficientnet_lite_backbone_embeds_freezes_and_exports(tmp_path):
    from osld.embedder.onnx import OnnxEmbedder
    from osld.embedder.train import export_onnx

    torch.manual_seed(0)
    net = EmbeddingNet(dim=32, pretrained=True, frozen_blocks=4, backbone="efficientnet-lite0").eval()
    stem = list(net.backbone.children())[0]
    assert all(not p.requires_grad for p in stem.parameters())
    assert any(p.requires_grad for p in net.backbone_parameters())
    assert net.mean.flatten().tolist() == [127.5] * 3  # TF-Lite preprocessing, not ImageNet's
    x = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    # pretrained ImageNet features, not random ones: two different crops do not collapse onto one embedding
    assert float(out[0] @ out[1]) < 0.999
    emb = OnnxEmbedder(export_onnx(net, tmp_path / "lite.onnx", size=64))
    crops = [np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)]
    from osld.embedder.preprocess import batch_inputs

    with torch.no_grad():
        ref = net(torch.from_numpy(batch_inputs(crops, 64))).numpy()
    np.testing.assert_allclose(emb.embed(crops), ref, atol=1e-4)


def test_unknown_backbone_and_mismatched_checkpoint_fail_in_one_line(tmp_path):
    from osld.embedder.train import EmbedderTrainConfig, train_embedder
    from osld.errors import CheckpointError, ConfigError
    from osld.pipeline import default_weights_dir

    with pytest.raises(ConfigError, match="unknown embedder backbone 'resnet9000'"):
        EmbeddingNet(dim=8, pretrained=False, backbone="resnet9000")
    # the shipped embedder is a mobilenet_v2: continuing it as EfficientNet-Lite0 is refused before any data loads
    cfg = EmbedderTrainConfig(out=str(tmp_path / "run"), logos=str(tmp_path / "none"), heldout=str(tmp_path / "none"),
                              backbone="efficientnet-lite0")
    with pytest.raises(CheckpointError, match="a mobilenet_v2 embedder; continue it with --backbone mobilenet_v2"):
        train_embedder(cfg, init=default_weights_dir() / "embedder.pt", progress=False)


def test_average_checkpoints_is_the_element_wise_mean_and_refuses_other_architectures(tmp_path):
    from osld._checkpoint import save_checkpoint
    from osld.embedder.train import average_checkpoints, load_checkpoint
    from osld.errors import CheckpointError

    def ckpt(name, value, shape=(2, 3)):
        state = {"model": {"w": torch.full(shape, value, dtype=torch.float16), "n": torch.tensor(7)},
                 "proxies": torch.full((4, 2), value), "class_names": ["a", "b", "c", "d"], "steps_total": int(value)}
        return save_checkpoint(state, tmp_path / name)

    a, b = ckpt("a.pt", 1.0), ckpt("b.pt", 4.0)
    mean = load_checkpoint(average_checkpoints([a, b], tmp_path / "mean.pt"))
    assert mean["model"]["w"].dtype == torch.float16 and mean["model"]["w"].eq(2.5).all()
    assert mean["proxies"].eq(4.0).all() and mean["steps_total"] == 4  # the last checkpoint's
    assert "a.pt" in mean["averaged_from"]
    with pytest.raises(CheckpointError, match="not the same architecture"):
        average_checkpoints([ckpt("c.pt", 1.0, shape=(3, 3)), b], tmp_path / "bad.pt")
