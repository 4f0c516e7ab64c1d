"""The SDML embedding network (torch; training and export only).

Zhai & Wu 2018: ImageNet backbone -> global average pooling -> LayerNorm without affine -> linear projection
-> L2 normalization. Input is RGB float in 0..255; ImageNet normalization happens inside, so the exported ONNX
graph needs only a resize on the inference side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from osld._offline import mobilenet_v2_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def mobilenet_v2_backbone(pretrained: bool = True) -> tuple[nn.Module, int]:
    import torchvision

    net = torchvision.models.mobilenet_v2()
    if pretrained:
        state = torch.load(mobilenet_v2_weights(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    return net.features, 1280


class EmbeddingNet(nn.Module):
    def __init__(self, dim: int = 256, pretrained: bool = True, frozen_blocks: int = 4):
        super().__init__()
        self.backbone, channels = mobilenet_v2_backbone(pretrained)
        self.frozen_blocks = frozen_blocks
        for block in list(self.backbone.children())[:frozen_blocks]:
            for p in block.parameters():
                p.requires_grad_(False)
        self.norm = nn.LayerNorm(channels, elementwise_affine=False)
        self.proj = nn.Linear(channels, dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

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

    def __init__(self):
        super().__init__()
        self.backbone, _ = mobilenet_v2_backbone(pretrained=True)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone((x - self.mean) / self.std).mean(dim=(2, 3)), dim=1)


class NormSoftmaxLoss(nn.Module):
    """Normalized softmax over L2-normalized class proxies with a temperature (Zhai & Wu 2018)."""

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05):
        super().__init__()
        self.proxies = nn.Parameter(torch.randn(num_classes, dim) / dim**0.5)
        self.temperature = temperature

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = F.normalize(emb, dim=1) @ F.normalize(self.proxies, dim=1).T / self.temperature
        return F.cross_entropy(logits, labels)
