"""Which region is the object: ReDO's masks are unordered, so polarity needs a rule.

Rule (documented in the README/report): the **background is the region touching the image border
the most**; every other region is foreground. Object-centric photos (what ReDO is for) frame the
object away from the border, so this resolves polarity without ground truth. A model-level choice
(majority over the validation images, stored in the checkpoint) is used by default because each
generator specialises on one region type for the whole data set; a per-image choice is available.
"""

from __future__ import annotations

import torch


def hard_masks(masks: torch.Tensor) -> torch.Tensor:
    """Soft (B,K,H,W) -> one-hot float (B,K,H,W) by argmax over regions."""
    k = masks.shape[1]
    return torch.nn.functional.one_hot(masks.argmax(1), k).permute(0, 3, 1, 2).to(masks.dtype)


def border_contact(masks: torch.Tensor) -> torch.Tensor:
    """(B,K,H,W) masks -> (B,K) mean mask value over the one-pixel image border."""
    top, bottom = masks[..., 0, :], masks[..., -1, :]
    left, right = masks[..., 1:-1, 0], masks[..., 1:-1, -1]
    border = torch.cat([top, bottom, left, right], dim=-1)
    return border.mean(-1)


def background_per_image(masks: torch.Tensor) -> torch.Tensor:
    """(B,) index of each image's background region (ties: the larger region)."""
    contact = border_contact(masks)
    area = masks.mean(dim=(2, 3))
    return (contact + 1e-6 * area).argmax(1)


def background_region(masks: torch.Tensor) -> int:
    """Model-level background: the region most often chosen per image (ties: lower mean contact loses)."""
    per_image = background_per_image(masks)
    votes = torch.bincount(per_image, minlength=masks.shape[1]).float()
    votes = votes + 1e-3 * border_contact(masks).mean(0)
    return int(votes.argmax())


def foreground(masks: torch.Tensor, background: int | torch.Tensor) -> torch.Tensor:
    """(B,H,W) foreground = union of non-background regions; ``background`` is an int or (B,) tensor."""
    b, k = masks.shape[:2]
    bg = torch.as_tensor(background, device=masks.device).expand(b)
    keep = torch.ones(b, k, dtype=masks.dtype, device=masks.device)
    keep[torch.arange(b, device=masks.device), bg] = 0
    return (masks * keep[:, :, None, None]).sum(1)
