"""A trained image VAE as a Python object: images in and out are tensors (N, C, H, W) in [0, 1]."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from ..errors import UserError
from ..evaluation import check_evaluation_options


class ImagePipeline:
    """An image model loaded from its folder (`textvae.load`).

    Attributes:
        model: the textvae.image.models.ImageVAE itself.
        model_dir: the folder it was loaded from.
    """

    def __init__(self, model, model_dir: str | Path):
        self.model = model.eval()
        self.model_dir = Path(model_dir)

    @property
    def latent_size(self) -> int:
        return self.model.latent_size

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (0-255) or float (0-1) images of the model's shape, as float (N, C, H, W)."""
        c = self.model.config
        images = torch.as_tensor(images)
        if images.dim() == 3:
            images = images[None]
        if tuple(images.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise UserError(
                f"images must have shape (N, {c.channels}, {c.image_size}, {c.image_size}), not {tuple(images.shape)}"
            )
        return images.float() / 255 if images.dtype == torch.uint8 else images.float()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means of images.

        Args:
            images: (N, C, H, W) or one (C, H, W), uint8 in 0-255 or float in [0, 1].
        Returns:
            (N, latent_size) float32 tensor on the CPU.
        """
        return self.model.encode_images(self._images(images)).mean.float().cpu()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean images of p(x|z).

        Args:
            z: (N, latent_size) codes, or one code (latent_size,).
        Returns:
            (N, C, H, W) float tensor in [0, 1] on the CPU.
        """
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.latent_size)
        return self.model.decode_mean(z).cpu()

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """The decoding of each image's posterior mean.

        Args:
            images: as in `encode`.
        Returns:
            (N, C, H, W) float tensor in [0, 1].
        """
        return self.decode(self.encode(images))

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 5, method: str = "slerp") -> torch.Tensor:
        """Decodes along the path between the posterior means of two images.

        Args:
            a, b: one image each, (C, H, W).
            steps: intermediate codes.
            method: slerp | linear.
        Returns:
            (steps + 2, C, H, W): a's reconstruction, the intermediate decodes, b's reconstruction.
        """
        from ..core.interpolation import interpolate

        means = self.encode(torch.stack([self._images(a)[0], self._images(b)[0]]))  # (2, D)
        try:
            return self.decode(interpolate(means[0], means[1], steps, method))
        except ValueError as e:
            raise UserError(str(e)) from None

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Mean images decoded from codes drawn from the prior.

        Args:
            n: how many.
            seed: draws the codes reproducibly.
        Returns:
            (n, C, H, W) float tensor in [0, 1].
        """
        if n < 1:
            raise UserError(f"the number of samples must be >= 1, not {n}")
        return self.decode(self.model.sample_prior(n, torch.Generator().manual_seed(seed)))

    def evaluate(
        self,
        data: str | Path | None = None,
        iw_samples: int = 500,
        batch_size: int | None = None,
        seed: int = 0,
        refine_steps: int = 0,
        refine_lr: float = 0.02,
        proposal_scale: float = 1.0,
        mixed_precision: str = "no",
    ) -> dict | None:
        """The numbers `textvae evaluate` prints: importance-weighted NLL (nats per image, bits per
        dimension), -ELBO, reconstruction, KL, mutual information, active units on a test split.

        Args:
            data: idx/npz/folder whose test split to score; default the run's data.
            iw_samples: k of the importance-weighted bound (0 skips the NLL).
            batch_size: images at a time (default 100).
            seed, refine_steps, refine_lr, proposal_scale, mixed_precision: as in TextPipeline.evaluate.
        Returns:
            The summary (the JSON `textvae evaluate --output` writes) on the main process; None on the
            others under `accelerate launch`.
        """
        from accelerate import Accelerator

        from ..evaluation import evaluate_vae, scalars
        from ..image.task import batcher, load_test_split
        from ..runtime import checked_precision, finish_processes

        check_evaluation_options(iw_samples, batch_size, refine_steps, refine_lr, proposal_scale)
        test, data_cfg, _ = load_test_split(self.model_dir, self.model, data)
        print(
            f"evaluation data: the {len(test):,} test images of {data_cfg.path or 'the default Fashion-MNIST'}",
            file=sys.stderr,
        )
        accelerator = Accelerator(mixed_precision=checked_precision(mixed_precision or "no", "--mixed-precision"))
        res = evaluate_vae(
            self.model,
            test,
            batcher(test, data_cfg, self.model.config, train=False),
            accelerator,
            iw_samples=iw_samples,
            batch_size=batch_size or 100,
            seed=seed,
            refine_steps=refine_steps,
            refine_lr=refine_lr,
            proposal_scale=proposal_scale,
        )
        try:
            if not accelerator.is_main_process:
                return None
            summary = {"model_dir": str(self.model_dir), "data": data_cfg.path, "split": "test", **scalars(res)}
            dims = self.model.config.num_pixels
            if self.model.config.likelihood == "gaussian":
                # A density on dequantized pixels (x + u) / 256 bounds the probability of the 8-bit image:
                # log P(x) >= E_u log p((x + u) / 256) - D log 256 (Theis et al. 2016).
                for key in ("nll", "neg_elbo", "rec"):
                    if summary.get(key) is not None:
                        summary[key] += dims * math.log(256)
                summary["likelihood_note"] = "nats of 8-bit images: the dequantized density plus D*log(256)"
            else:
                summary["likelihood_note"] = "nats of the binarized test images (one fixed binarization, seed 0)"
            if summary.get("nll") is not None:
                summary["bits_per_dim"] = summary["nll"] / (dims * math.log(2))
            return summary
        finally:  # every process meets here, the main one after its work
            finish_processes(accelerator)
