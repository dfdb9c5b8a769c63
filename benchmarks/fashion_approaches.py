"""Issue 14's Fashion-MNIST experiments that are not (yet) recipes, rendered into docs/benchmarks.md.

Kept beside the recipes' own sections (written by quality.py) so negative results stay on record.
"""

FASHION_APPROACHES = """## Approaches tried on Fashion-MNIST (issue 14)

Precision@1 with each image querying all the others (cosine, leave-one-out). Rows marked
*script* ran a training loop over the images held in memory (28 px, the 60,000 training images
split 54,000 / 6,000 with a seeded permutation), scored on those 6,000 validation images only;
rows marked *siamkit* ran `siamkit train` with its own 90 / 10 split of the training images,
scored once per recipe on the 10,000 official test images. 2 cores, no GPU, 2026-12-07.

| approach | val precision@1 | test precision@1 | train time |
|---|---|---|---|
| *siamkit*: `fashion-mnist` (EfficientNet-Lite0 ImageNet at 32 px, multi-similarity, 8 per class) | val ROC AUC 0.979 | 0.878 | 21.6 min |
| *siamkit*: `conv4-256` from scratch, multi-similarity, batches of 128 with 16 per class, Adam 2e-3, flips and crops | val ROC AUC 0.908 / 0.931 / 0.936 after epochs 1-3 (92 s each) | stopped | – |
| *script*: `conv4-256` from scratch, NormalizedSoftmax (temperature 0.05) on a 128-d linear head, AdamW 2e-3 one-cycle, weight decay 5e-4, 2 px shifts and flips, batch 128, 10 epochs | 0.887 after 5 epochs, 0.902 after 10 | – | 8.4 min |
| *script*: the same with `conv4-384` (widths 48-96-192-384) | 0.891 after 5 epochs, 0.910 after 10; with mirror averaging 0.913 | – | 19.3 min |
| *script*: fast.ai course notebook 14's ResNet (a residual block at 28 px, then five stride-2 residual blocks, widths 16-32-64-128-256-512), NormalizedSoftmax on a 128-d head, AdamW 5e-3 one-cycle (25 % warm-up), 2 px shifts and flips, batch 256, 5 epochs | 0.847, 0.868, 0.878, 0.897, 0.906 after epochs 1-5; 0.907 with mirror averaging | – | 17.4 min (about 200 s an epoch against about 115 s for `conv4-384`: each block's first convolution runs before its stride) |
| *script*: `conv4-384` with its last map (2 x 2 x 384) flattened into the head instead of averaged, otherwise as the `conv4-384` row | 0.856, 0.877, 0.882 after epochs 1-3 (averaged: 0.857, 0.873, 0.882); 0.904 after 10; with mirror averaging 0.908 | – | 20.5 min |
| *siamkit*: **`fashion-mnist-conv`**: `conv4-384` from scratch, NormalizedSoftmax, MLP head to 128-d, 10 classes x 12 per batch, AdamW 2e-3 cosine, weight decay 5e-4, random resized crops (scale 0.85-1) and flips, 10 epochs | val ROC AUC 0.983 | **0.905** (untrained random `conv4-384` 0.794; MAP@R 0.762 against 0.791 for `fashion-mnist`) | 26.4 min (29.6 min with evaluation) |
| *siamkit*, the shipped `fashion-mnist-conv` model folder re-embedded (nothing retrained): mirror averaging (`flip_average`), the centre 90 % scaled up (`zoom_average: 0.9`), both | precision@1 on its 6,000 validation images 0.9075 as shipped, 0.9098 / 0.9065 / 0.9072 | – (not run on test: +0.2 points at most) | 2026-12-07, second session |

Throughput of one training step (batch 128, 28 px, AdamW, 2 cores): `conv4-256` 629 images/s,
1,040 with channels_last, 669 / 817 under `torch.compile` (without / with channels_last);
`conv4-384` 384, 508 with channels_last, 369 / 399 compiled. siamkit trains channels_last and
eager, the fastest of the four. In siamkit an epoch of `fashion-mnist-conv` takes 148-167 s
against 110-125 s in the script; the per-image PIL augmentation and Lightning's loop cost the rest
(not the loader worker: one epoch took 142 s with siamkit's one worker and 146 s with none).

The goal (precision@1 >= 0.93 within 30 minutes) is not met: 0.905. The curve was still rising
after 10 epochs (script: 0.891 at 5, 0.910 at 10), and 10 epochs of `conv4-384` already fill the
30 minutes on 2 cores. The residual network of fast.ai's course notebook 14 (93.2 % test
accuracy in 5 epochs on a GPU, batch 1024) reached 0.906 on validation after 5 epochs, close to
`conv4-384`'s 0.910 after 10, but its epochs cost 1.7 times as much on 2 cores: no gain per minute.
Keeping the spatial layout of the last map (flattening instead of averaging, as the classic
Fashion-MNIST CNNs end) followed the averaged network epoch by epoch and ended lower (0.904 against
0.910). Next: pad-and-crop shifts instead of resized crops for short budgets, mirror averaging at
test time (+0.2-0.4 points on validation in the script), a faster input pipeline (augmenting whole
batches of tensors instead of PIL images one by one), and epochs and settings chosen by `siamkit
tune` once it exists (issue 14, item 2).
""".splitlines() + [""]
