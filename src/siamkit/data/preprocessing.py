"""The backbone's own input normalisation, plus the training augmentations.

Mean, std and interpolation come from the backbone's timm pretrained config: a network trained
with inputs in [-1, 1] (EfficientNet-Lite) silently loses accuracy when fed ImageNet mean/std, one
of the protocol bugs we keep finding in public notebooks. The config is stored in the model
folder so inference reproduces exactly what training saw, without timm having to guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import torch
    from torchvision.transforms import InterpolationMode

# torchvision is imported only where transforms are built: the onnxruntime path (decoding with
# PIL and numpy, siamkit.inference.embedder) starts without torch.
_INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "lanczos")


@dataclass(frozen=True)
class Preprocessing:
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bicubic"
    # 1: grey-scale native (one channel end to end, e.g. a small CNN for drawn characters), 3: RGB.
    in_chans: int = 3

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        return cls(
            int(data["image_size"]),
            tuple(data["mean"]),
            tuple(data["std"]),
            data.get("interpolation", "bicubic"),
            int(data.get("in_chans", 3)),  # folders written before grey-scale backbones are RGB
        )

    @classmethod
    def from_timm_config(cls, data_config: dict, image_size: int) -> "Preprocessing":
        interpolation = data_config.get("interpolation", "bicubic")
        if interpolation not in _INTERPOLATIONS:
            interpolation = "bicubic"
        in_chans = int(tuple(data_config.get("input_size", (3,)))[0])
        return cls(image_size, tuple(data_config["mean"]), tuple(data_config["std"]), interpolation, in_chans)

    @property
    def mode(self) -> str:
        """The PIL mode images are decoded to: "L" for a one-channel backbone, else "RGB"."""
        return "L" if self.in_chans == 1 else "RGB"

    @property
    def interpolation_mode(self) -> "InterpolationMode":
        from torchvision.transforms import InterpolationMode

        return InterpolationMode(self.interpolation)

    def eval_transform(self) -> "T.Compose":
        """Whole image resized to a square: identity cues near the border are not cropped away."""
        from torchvision import transforms as T

        return T.Compose(
            self._grey_steps()
            + [
                T.Resize((self.image_size, self.image_size), interpolation=self.interpolation_mode, antialias=True),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )

    def _grey_steps(self) -> list:
        """PIL's own conversion to "L" (what the decoder does) for a one-channel backbone."""
        from torchvision import transforms as T

        return [T.Grayscale(1)] if self.in_chans == 1 else []

    def train_transform(self, augment: "Augmentation") -> "T.Compose":
        from torchvision import transforms as T
        from torchvision.transforms import InterpolationMode

        if not augment.random:
            return self.eval_transform()
        if augment.crop_scale < 1.0:
            crop = T.RandomResizedCrop(
                self.image_size,
                scale=(augment.crop_scale, 1.0),
                ratio=(3 / 4, 4 / 3),
                interpolation=self.interpolation_mode,
                antialias=True,
            )
        else:  # the whole image, as evaluation sees it (no crop a pixel short at a random offset)
            crop = T.Resize((self.image_size, self.image_size), interpolation=self.interpolation_mode, antialias=True)
        steps = self._grey_steps() + [crop]
        if augment.horizontal_flip:
            steps.append(T.RandomHorizontalFlip())
        if augment.color_jitter > 0:
            j = augment.color_jitter
            steps.append(T.ColorJitter(brightness=j, contrast=j, saturation=j if self.in_chans == 3 else 0))
        if augment.shear > 0 or augment.scale_jitter > 0 or augment.translate > 0:
            # Koch et al.'s distortions for drawings; the background stays white.
            steps.append(
                T.RandomAffine(
                    augment.rotation,
                    translate=(augment.translate, augment.translate) if augment.translate > 0 else None,
                    scale=(1 - augment.scale_jitter, 1 + augment.scale_jitter) if augment.scale_jitter > 0 else None,
                    shear=augment.shear if augment.shear > 0 else None,
                    interpolation=InterpolationMode.BILINEAR,
                    fill=255,
                )
            )
        elif augment.rotation > 0:
            steps.append(T.RandomRotation(augment.rotation, interpolation=InterpolationMode.BILINEAR, fill=255))
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.eval_transform()(image)


@dataclass(frozen=True)
class Augmentation:
    """Training-only augmentation; evaluation never augments."""

    enabled: bool = True
    crop_scale: float = 0.8
    horizontal_flip: bool = True
    color_jitter: float = 0.2
    rotation: float = 0.0
    shear: float = 0.0  # degrees
    scale_jitter: float = 0.0  # 0.2: scaled by 0.8 to 1.2
    translate: float = 0.0  # fraction of the side

    @property
    def random(self) -> bool:
        """Whether two passes over one image can differ. Without it (``crop_scale`` 1 and nothing
        else) training sees each image as evaluation does, resized whole, and what the transform
        computes can be kept (:class:`siamkit.training.datasets.ImageListDataset`'s ``cache``)."""
        return self.enabled and (
            self.crop_scale < 1.0
            or self.horizontal_flip
            or self.color_jitter > 0
            or self.rotation > 0
            or self.shear > 0
            or self.scale_jitter > 0
            or self.translate > 0
        )
