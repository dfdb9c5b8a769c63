"""Issue 15's Omniglot experiments that are not (yet) recipes, rendered into docs/benchmarks.md.

Kept beside the recipes' own sections (written by quality.py) so negative results stay on record.
"""

OMNIGLOT_APPROACHES = """## Approaches tried on Omniglot (issue 15)

20-way one-shot accuracy inside held-out background alphabets ("within"; the harder task, Lake et
al.'s) and across them ("across"). Rows marked *script* ran `/tmp`-style experiments over the
images held in memory (28 px, a seeded 20 / 5 / 5 split of the 30 alphabets that is not
siamkit's), scored on their 5 validation alphabets only; rows marked *siamkit* ran `siamkit train`
on siamkit's own group split (20 / 5 / 5 alphabets, seed 0), scored on its validation alphabets
and, once per recipe, its test alphabets. 2 cores, no GPU, 2026-12-07.

| approach | val within | val across | test within | test across | train time |
|---|---|---|---|---|---|
| *script*: raw pixels (nothing learnt) | 21.0 % | – | – | – | – |
| *script*: conv4 (64 ch) from scratch, prototypical loss, 60-way 1-shot 5-query episodes, rotations as classes, Adam 1e-3 cosine | 56.7 % | 70.5 % | – | – | 4 min |
| *script*: the same, 10 min | 68.6 % (training alphabets 85.0 %) | 78.1 % | – | – | 10 min |
| *script*: the same 10 min at 42 px instead of 28 px (441 episodes in the time 28 px takes for 1,054) | 67.7 % (training alphabets 80.4 %) | 79.1 % | – | – | 10 min |
| *script*: the same, 30-way episodes | 60.2 % | 70.7 % | – | – | 4 min |
| *script*: 30-way, half of the episodes inside one alphabet | 59.0 % | 69.5 % | – | – | 4 min |
| *script*: the same + Koch's affine distortions (rotation, shear, scale, translation) | 59.4 % | 70.6 % | – | – | 4 min |
| *script*: cosine-softmax classifier over the 2,716 rotated training classes (batch 256) instead of episodes | 51.1 % | 61.1 % | – | – | 4 min |
| *script*: embedding L2-normalised / centred on the training mean before the prototypes (same 4-min conv4) | within ±1 point of raw, centring 1-3 points worse | – | – | – | – |
| *siamkit*: `omniglot` (EfficientNet-Lite0 ImageNet, 80 px, multi-similarity over two-alphabet batches; the recipe before this issue) | – | – | 84.9 % | 92.2 % | 12.8 min |
| *siamkit*: Lite0 80 px, prototypical loss on 20-way 1-shot 3-query episodes, half inside one alphabet, 5 epochs | 61.2 % (5-shot 77.8 %) | 79.3 % | 79.5 % (5-shot 91.8 %) | 89.1 % | 19 min |
| *siamkit*: `omniglot-conv4` with 10 epochs: conv4 (64 ch) from scratch at 28 px, prototypical loss, 60-way 1-shot 5-query episodes, rotations as classes, MLP head to 64-d, Adam 1e-3 cosine | 68.4 % (5-shot 85.7 %) | 84.2 % (5-shot 94.6 %) | 86.6 % (5-shot 95.8 %) | 93.0 % (5-shot 97.7 %) | 18 min |
| *siamkit*: **`omniglot-conv4` as shipped: the same, 16 epochs** | **69.8 %** (5-shot 86.9 %) | 86.3 % (5-shot 95.1 %) | **88.7 %** (95 % CI 86.6-90.5; 5-shot 96.4 %) | 94.8 % (5-shot 98.2 %) | 27.5 min (28 min with evaluation) |
| *siamkit*: `omniglot-conv4` on 3 splits (seeds 0, 1, 2 of the group split: alphabets and initial weights), issue 15's protocol | – | – | **80.2 ± 7.4 %** (88.7, 75.0, 77.0; 95 % CIs 86.6-90.5, 72.2-77.6, 74.3-79.5) | 89.7 ± 4.4 % | 28.0, 30.2, 30.0 min with evaluation |
| *siamkit*: `omniglot-conv4` with each character decoded once per run (`ImageListDataset(cache=True)`; epochs of 61-79 s instead of 106-128 s, the same losses) and 22 epochs instead of 16 in about the time 16 took before, split seed 0 | val ROC AUC 0.9888 (0.9869 with 16) | – | 88.9 % (95 % CI 86.8-90.7) against 88.7 % | 95.3 % against 94.8 % | 26.8 min (27.6 min with evaluation) |
| *siamkit*: `omniglot-conv4` as shipped now (16 epochs, the cache, `max_time` 28), split seed 1, `siamkit train --config omniglot-conv4 --seed 1` | val ROC AUC 0.9871 | – | 75.3 % (95 % CI 72.5-77.9) against 75.0 % before the cache (whose 16th epoch the 29-min limit had cut short; epochs 6-8 gave the same losses to four decimals) | 87.3 % against 87.6 % | 18.6 min with evaluation, against 30.2 min |
| *siamkit*: the shipped model (split seed 0) embedding each character averaged with its mirror image (`flip_average`) | 64.9 % (5-shot 80.4 %) | 82.0 % | – | – | – |

The validation alphabets of siamkit's split are much harder than its test alphabets (61 % against
80 % for the same Lite0 model), so only rows on the same split and the same alphabets compare.
Chosen on the validation alphabets, conv4 from scratch beats the Lite0 prototypical run there (68.4 % and
69.8 % against 61.2 %) and, scored once per recipe, on the test alphabets beats both Lite0 recipes
(88.7 % against 84.9 % and 79.5 %; untrained conv4 27.2 %). That is still below Koch et al.'s
92.0 %, people's 95.5 % and BPL's 96.7 %, which were measured on the official evaluation alphabets,
not on these. The goal (>= 95 % within held-out alphabets in <= 30 min on 2 cores, 3 splits) is not
met. On the 3 splits the goal asks for, the mean is 80.2 % (seed 0's test alphabets were the easy
ones: 88.7 % against 75.0 % and 77.0 %), across alphabets 89.7 %, 20-way 5-shot within 89.8 %.
Two cores give about 1,000 training images a second at 28 px, some 2,400 60-way episodes in 27
minutes, where published prototypical networks train for tens of thousands; validation ROC AUC
flattened at 0.987-0.990 over the last epochs of every split. Seeds 1 and 2 reached the 29-minute
training limit in their 16th epoch and took 30.0-30.2 minutes with evaluation: `max_time` should
drop to 28 for the whole run to fit 30 minutes. Mirror averaging, which helps photographs, costs
5 points on characters.
Third session (2026-12-07), the last one before the goal is declared blocked: siamkit now decodes
and resizes each training and validation image once per run when no random augmentation can change
it, so an `omniglot-conv4` epoch takes 61-79 s instead of 106-128 s (the first epoch's loss on split
seed 1 is the same to four decimals). Spending the saved time on 22 epochs instead of 16 moved split
seed 0's test accuracy from 88.7 % to 88.9 %, inside either confidence interval: the curve is flat,
so the recipe keeps 16 epochs and now finishes sooner (`max_time` 28 min): split seed 1 in 18.6 min
with evaluation instead of 30.2, at the same accuracy (75.3 % against 75.0 %). Larger characters
(42 px) learn more per episode but not per minute (67.7 % against 68.6 % on validation at the same 10
minutes). Earlier sessions' tries were no better: Koch's distortions, within-alphabet episodes,
30-way episodes, a whole-class cosine classifier, mirror averaging, an ImageNet Lite0 with episodes.
The mean over 3 splits stays at 80.2 % against the 95 % goal; closing that gap needs something of a
different kind (a residual network at tens of thousands of episodes on a GPU, or models built for
strokes), not a setting of these. Lake et al. (2019) also note that published Omniglot one-shot
gains mostly came with new splits and procedures that make the task easier than this one.
""".splitlines() + [""]
