"""What ``siamkit train`` tells the user on the siamkit logger: the plan first, the verdict last."""

from __future__ import annotations

import json
import logging
import re

from siamkit.data.splits import Split
from tests.conftest import quick_onnx_export, tiny_train_settings


def test_a_run_logs_its_plan_at_the_start_and_its_verdict_at_the_end(tiny_dataset, tmp_path, caplog, monkeypatch):
    from siamkit.evaluation.verdict import training_verdict
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate
    from siamkit.training.config import load_config

    monkeypatch.setattr(logging.getLogger("siamkit"), "propagate", True)  # the CLI turns it off
    config = load_config(None, tiny_train_settings(evaluate=True, lr=3e-4, plots=False))
    with quick_onnx_export(), caplog.at_level(logging.INFO, logger="siamkit"):
        result = train_and_evaluate(tiny_dataset, tmp_path / "run", config)
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("siamkit")]

    split = Split.load(result.run_folder / "split.json", root=str(tiny_dataset))
    sizes = ", ".join(
        f"{name} {split.identity_counts[name]} identities / {len(split.paths(name))} images" for name in ("train", "val", "test")
    )
    plan = "\n".join(messages)
    for fragment in (
        "backbone resnet10t (pretrained: none, whole backbone trained), 32 px images -> 16-d embeddings",
        "loss multi-similarity", "sampler m-per-class with miner all", "batch size 8",
        "adamw lr 0.0003", "up to 1 epoch,", f"split: {sizes}",
    ):
        assert fragment in plan, (fragment, plan)
    assert plan.index("backbone resnet10t") < plan.index("model folder:"), "the plan comes before training"

    metrics = json.loads(result.metrics_path.read_text())
    assert messages[-1] == training_verdict(metrics)
    assert re.fullmatch(r"test ROC AUC \d\.\d{3}, untrained \d\.\d{3}: (\+\d\.\d{3}|training did not help)", messages[-1])


def test_the_plan_says_no_miner_runs_with_a_class_level_loss():
    from siamkit.pipelines.run_summary import describe_plan
    from siamkit.training.config import load_config

    split = Split(train=["a/1.png", "a/2.png"], val=["b/1.png"], test=["c/1.png"], identity_counts={"train": 1, "val": 1, "test": 1})
    mined = "\n".join(describe_plan(load_config(None, tiny_train_settings(loss="multi-similarity", miner="batch-hard")), split))
    proxies = "\n".join(describe_plan(load_config(None, tiny_train_settings(loss="normalized-softmax", miner="batch-hard")), split))
    assert "with miner batch-hard" in mined
    assert "miner batch-hard" not in proxies and "no miner (the loss reads class labels)" in proxies
