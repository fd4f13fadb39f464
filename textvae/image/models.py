"""Image VAEs: a convolutional encoder/decoder and the one-hidden-layer MLP of Kingma and Welling (2014).

Both map images (B, C, H, W) in [0, 1] to a diagonal-Gaussian posterior and decode a code to one
output per pixel: Bernoulli logits (binarized pixels) or the mean of a Gaussian with a learned scale
per channel (dequantized pixels; see textvae.image.data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..core.distributions import DiagonalGaussian
from ..core.model import VAE


@dataclass
class ImageModelConfig:
    kind: str = "conv"  # conv | mlp
    channels: int = 1  # 1: grey, 3: colour
    image_size: int = 28  # height = width; conv needs a multiple of 4
    latent_size: int = 32  # dimensions of z
    hidden_size: int = 512  # the dense layer (conv) or the one hidden layer (mlp)
    conv_channels: int = 32  # conv: the first convolution's width; the second has twice as many
    likelihood: str = "bernoulli"  # bernoulli | gaussian
    prior_components: int = 0  # 0: N(0, I); K: the Gaussian mixture `textvae fit-prior` fitted

    def __post_init__(self):
        if self.kind not in ("conv", "mlp"):
            raise ValueError(f"kind must be conv or mlp, not {self.kind!r}")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be bernoulli or gaussian, not {self.likelihood!r}")
        for name in ("channels", "image_size", "latent_size", "hidden_size", "conv_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.prior_components < 0:
            raise ValueError(f"prior_components must be >= 0, not {self.prior_components}")
        if self.kind == "conv" and self.image_size % 4:
            raise ValueError(f"the conv model needs image_size divisible by 4, not {self.image_size}")

    @property
    def num_pixels(self) -> int:
        return self.channels * self.image_size**2


class ImageVAE(VAE):
    """What both image models share: the likelihood, decoding to pixel means, and the batch format."""

    config_class: ClassVar[type] = ImageModelConfig
    task_name: ClassVar[str] = "image"
    kind: ClassVar[str] = ""

    def __init__(self, config: ImageModelConfig):
        if config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs model.kind={self.kind}, not {config.kind}")
        super().__init__(config)
        if config.likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.full((config.channels,), math.log(0.1)))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, batch) -> DiagonalGaussian:
        mean, logvar = self.encoder(batch["images"]).chunk(2, dim=-1)
        return DiagonalGaussian(mean, logvar)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) -> one output per pixel (N, C, H, W), before the sigmoid."""
        raise NotImplementedError

    def log_likelihood(self, z: torch.Tensor, batch) -> torch.Tensor:
        s, b, d = z.shape
        x = batch["images"].float().unsqueeze(0).expand(s, *batch["images"].shape)
        out = self.decode_logits(z.reshape(s * b, d)).float().view(x.shape)
        if self.config.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum((2, 3, 4))
        log_scale = self.log_scale.float().clamp(min=-7.0).view(1, 1, -1, 1, 1)
        z2 = (x - torch.sigmoid(out)) * torch.exp(-log_scale)
        return (-0.5 * (z2**2 + math.log(2 * math.pi)) - log_scale).sum((2, 3, 4))

    @torch.no_grad()
    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The mean image of p(x|z), (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z.to(self.device)).float())

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, batch_size: int = 500) -> DiagonalGaussian:
        """Posterior of float images (N, C, H, W) in [0, 1], in batches."""
        parts = [
            self.encode({"images": images[i : i + batch_size].to(self.device)})
            for i in range(0, len(images), batch_size)
        ]
        return DiagonalGaussian(
            torch.cat([p.mean for p in parts]).float(), torch.cat([p.logvar for p in parts]).float()
        )


class ConvImageVAE(ImageVAE):
    """Two stride-2 4x4 convolutions (28 -> 14 -> 7, or 32 -> 16 -> 8), a dense layer, and the mirror
    image with transposed convolutions."""

    model_type: ClassVar[str] = "conv_image_vae"
    kind: ClassVar[str] = "conv"

    def __init__(self, config: ImageModelConfig):
        super().__init__(config)
        c, w, h = config.conv_channels, config.image_size // 4, config.hidden_size
        self._shape = (2 * c, w, w)
        self.encoder = nn.Sequential(
            nn.Conv2d(config.channels, c, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * c * w * w, h),
            nn.ReLU(),
            nn.Linear(h, 2 * config.latent_size),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_size, h),
            nn.ReLU(),
            nn.Linear(h, 2 * c * w * w),
            nn.ReLU(),
            nn.Unflatten(1, self._shape),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, config.channels, 4, 2, 1),
        )

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


class MLPImageVAE(ImageVAE):
    """Kingma and Welling (2014): one tanh hidden layer in the encoder and in the decoder."""

    model_type: ClassVar[str] = "mlp_image_vae"
    kind: ClassVar[str] = "mlp"

    def __init__(self, config: ImageModelConfig):
        super().__init__(config)
        n, h = config.num_pixels, config.hidden_size
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n, h), nn.Tanh(), nn.Linear(h, 2 * config.latent_size))
        self.decoder = nn.Sequential(nn.Linear(config.latent_size, h), nn.Tanh(), nn.Linear(h, n))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        return self.decoder(z).view(-1, c.channels, c.image_size, c.image_size)


def model_for(config: ImageModelConfig) -> ImageVAE:
    return {"conv": ConvImageVAE, "mlp": MLPImageVAE}[config.kind](config)
