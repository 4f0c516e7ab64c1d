"""The SDML embedding network (torch; training and export only).

Zhai & Wu 2018: ImageNet backbone -> global average pooling -> LayerNorm without affine -> linear projection
-> L2 normalization. Input is RGB float in 0..255; ImageNet normalization happens inside, so the exported ONNX
graph needs only a resize on the inference side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from osld._offline import mobilenet_v2_weights
from osld.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("mobilenet_v2", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


def mobilenet_v2_backbone(pretrained: bool = True) -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.mobilenet_v2()
    if pretrained:
        state = torch.load(mobilenet_v2_weights(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    return net.features, 1280


def efficientnet_lite_backbone(variant: int, pretrained: bool = True) -> tuple[nn.Module, int]:
    """EfficientNet-Lite as a flat ``nn.Sequential`` (stem, the MBConv blocks, head), like mobilenet_v2's
    ``features``, so freezing the first N children means the same thing for both. Needs the [backbones] extra."""
    from efficientnet_lite_pytorch import EfficientNet

    from osld._offline import efficientnet_lite_weights

    name = f"efficientnet-lite{variant}"
    net = (EfficientNet.from_pretrained(name, weights_path=str(efficientnet_lite_weights(variant)))
           if pretrained else EfficientNet.from_name(name))
    act = nn.ReLU6(inplace=True)  # Lite replaces swish by ReLU6 (TF-Lite quantization friendliness)
    stem = nn.Sequential(net._conv_stem, net._bn0, act)
    head = nn.Sequential(net._conv_head, net._bn1, act)
    return nn.Sequential(stem, *net._blocks, head), net._bn1.num_features


def check_backbone(name: str) -> str:
    """``name`` if it is one of ``BACKBONES``; a one-line ``ConfigError`` otherwise."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown embedder backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return name


def build_backbone(name: str, pretrained: bool = True) -> tuple[nn.Module, int, tuple, tuple]:
    """(features module, channels, mean, std in 0..255 units) of an ImageNet backbone from ``BACKBONES``."""
    if check_backbone(name) == "mobilenet_v2":
        net, channels = mobilenet_v2_backbone(pretrained)
        return net, channels, tuple(m * 255.0 for m in IMAGENET_MEAN), tuple(s * 255.0 for s in IMAGENET_STD)
    net, channels = efficientnet_lite_backbone(int(name[-1]), pretrained)
    return net, channels, (127.5,) * 3, (128.0,) * 3  # TF-Lite preprocessing, not ImageNet's


class EmbeddingNet(nn.Module):
    def __init__(self, dim: int = 256, pretrained: bool = True, frozen_blocks: int = 4,
                 backbone: str = "mobilenet_v2"):
        super().__init__()
        self.backbone, channels, mean, std = build_backbone(backbone, pretrained)
        self.frozen_blocks = frozen_blocks
        for block in list(self.backbone.children())[:frozen_blocks]:
            for p in block.parameters():
                p.requires_grad_(False)
        self.norm = nn.LayerNorm(channels, elementwise_affine=False)
        self.proj = nn.Linear(channels, dim)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> EmbeddingNet:
        super().train(mode)
        for block in list(self.backbone.children())[: self.frozen_blocks]:
            block.eval()  # frozen blocks keep their ImageNet batch-norm statistics
        return self

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.proj.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) float RGB in 0..255 -> (n, dim) L2-normalized embeddings."""
        x = (x - self.mean) / self.std
        x = self.backbone(x).mean(dim=(2, 3))
        return F.normalize(self.proj(self.norm(x)), dim=1)


class BaselineNet(nn.Module):
    """The untrained reference: ImageNet backbone, global average pooling, L2 normalization."""

    def __init__(self, backbone: str = "mobilenet_v2"):
        super().__init__()
        self.backbone, _, mean, std = build_backbone(backbone, pretrained=True)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone((x - self.mean) / self.std).mean(dim=(2, 3)), dim=1)


class NormSoftmaxLoss(nn.Module):
    """Normalized softmax over L2-normalized class proxies with a temperature (Zhai & Wu 2018).

    Samples labelled ``BACKGROUND`` (-1: patches of photos without a logo) belong to no class: their term is the
    cross-entropy to the uniform distribution over the proxies (outlier exposure, Hendrycks et al. 2019), minus its
    floor log(C), weighted by ``outlier_weight``. It pulls down a background region's highest proxy similarity, the
    similarity that names a non-logo region after some canonical logo of a large registry.
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05, outlier_weight: float = 0.5):
        super().__init__()
        self.proxies = nn.Parameter(torch.randn(num_classes, dim) / dim**0.5)
        self.temperature = temperature
        self.outlier_weight = outlier_weight

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = F.normalize(emb, dim=1) @ F.normalize(self.proxies, dim=1).T / self.temperature
        known = labels >= 0
        loss = F.cross_entropy(logits[known], labels[known]) if known.any() else logits.sum() * 0.0
        if not known.all():
            bg = logits[~known]
            uniform_ce = torch.logsumexp(bg, dim=1) - bg.mean(dim=1) - math.log(bg.shape[1])
            loss = loss + self.outlier_weight * uniform_ce.mean()
        return loss
