"""What ``siamkit sweep --vary KEY=V1,V2,...`` asks for: the option, its values, each run's config.

``parse_vary`` reads the one option and its values (as YAML scalars, so ``1e-3`` is a number) and
refuses an unknown option, one a sweep holds fixed, or a value listed twice; ``_configs`` builds
every run's full config before the first run starts, so a typo in the last value or a sweep
whose runs would all train the same model (a margin the loss ignores) fails in seconds, not
hours in. ``_folder_name`` names each run's folder after its value.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from siamkit.errors import SiamkitError
from siamkit.training.config import TrainConfig, find_config, load_config

log = logging.getLogger("siamkit")

_FIXED_IN_A_SWEEP = {
    "split": "its fractions hold commas, which separate --vary values; set it for every run with --set split=...",
    "evaluate": "every run of a sweep is evaluated",
    "plots": "it changes the reports, not the models; set it for every run with --set plots=false",
}

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_vary(vary: list[str] | str) -> tuple[str, list[tuple[str, object]]]:
    """``["margin=0.25,0.5"]`` -> ``("margin", [("0.25", 0.25), ("0.5", 0.5)])``; values read as YAML scalars."""
    import yaml

    items = [vary] if isinstance(vary, str) else list(vary or [])
    if len(items) != 1:
        raise SiamkitError(f"--vary given {len(items)} times; a sweep varies exactly one option, e.g. --vary lr=3e-5,1e-4,3e-4")
    key, sep, text = items[0].partition("=")
    key = key.strip().replace("-", "_")
    texts = [t.strip() for t in text.split(",")]
    if not sep or not key or not any(texts) or not all(texts):
        raise SiamkitError(f"--vary '{items[0]}': expected KEY=V1,V2,... e.g. lr=3e-5,1e-4,3e-4")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if key not in names:
        import difflib

        close = difflib.get_close_matches(key, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SiamkitError(f"--vary '{key}': unknown training option{hint}")
    if key in _FIXED_IN_A_SWEEP:
        raise SiamkitError(f"--vary '{key}': cannot vary, {_FIXED_IN_A_SWEEP[key]}")
    values = []
    for value_text in texts:
        try:
            value = yaml.safe_load(value_text)
        except yaml.YAMLError:
            raise SiamkitError(f"--vary {key}={value_text}: cannot read the value") from None
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; a learning-rate sweep means the number
        values.append((value_text, value))
    folders = [_folder_name(key, t) for t, _ in values]
    if len(set(folders)) != len(folders):
        raise SiamkitError(f"--vary '{items[0]}': the same value is listed twice")
    return key, values


def _folder_name(key: str, value_text: str) -> str:
    return f"{key}={re.sub(r'[^A-Za-z0-9._+-]', '_', value_text)}"


def _configs(key: str, values, config_path, overrides: dict | None) -> list[TrainConfig]:
    """Every run's full config, checked before the first run starts (a typo in the last value
    should not surface hours into a sweep)."""
    overrides = dict(overrides or {})
    if key in overrides:
        raise SiamkitError(f"--set {key}: that option is the one given to --vary")
    config_file = find_config(config_path) if config_path is not None else None  # its errors name --config, not a --vary value
    configs = []
    for value_text, value in values:
        try:
            config = load_config(config_file, {**overrides, key: value})
        except SiamkitError as exc:
            raise SiamkitError(f"--vary {key}={value_text}: {exc}") from None
        configs.append(dataclasses.replace(config, evaluate=True))
    _check_option_matters(key, configs)
    return configs


def _no_miner_reason(config: TrainConfig) -> str:
    from siamkit.losses.registry import LOSSES

    return "no miner runs with " + (f"--loss {config.loss}" if LOSSES.metadata(config.loss)["class_level"] else "--sampling fixed")


def _no_margin_reason(config: TrainConfig) -> str:
    from siamkit.losses.registry import LOSSES

    if LOSSES.metadata(config.loss)["class_level"]:
        return f"the {config.loss} loss has no margin and no miner runs with it"
    return f"the {config.loss} loss ignores the margin (only a semi-hard miner would use it)"


def _check_option_matters(key: str, configs: list[TrainConfig]) -> None:
    """Refuse a sweep whose runs would all train the same model: a table of different margins
    over identical runs reads as "the margin does not matter" when it was never used."""
    from siamkit.training.losses import margin_is_used, miner_is_used

    checks = {
        "margin": (margin_is_used, _no_margin_reason),
        "miner": (miner_is_used, _no_miner_reason),
    }
    if key not in checks:
        return
    used, reason = checks[key]
    ignored = [config for config in configs if not used(config)]
    if len(ignored) == len(configs):
        raise SiamkitError(
            f"--vary {key}: {reason(configs[0])}, so every run would train the same model; "
            f"vary an option that matters (e.g. lr or embedding_dim) or choose settings that use {key}"
        )
    for config in ignored:
        log.warning("sweep: %s=%s changes nothing: %s", key, getattr(config, key), reason(config))

