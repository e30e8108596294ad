"""Shipped pretrained checkpoints: the index is complete, every file loads and still scores near its recorded return."""

from __future__ import annotations

import re

import pytest

import trmarl
from trmarl.agents.base import ALGORITHMS
from trmarl.common.evaluation import EvaluationResult, evaluate_policy
from trmarl.envs.vec_env import make_vec_env
from trmarl.zoo import CHECKPOINT_DIR, PretrainedEntry, get_pretrained, list_pretrained

ENTRIES = list_pretrained()


def test_index_is_complete() -> None:
    assert ENTRIES, "the zoo ships no checkpoint"
    listed = {e.file for e in ENTRIES}
    on_disk = {p.name for p in CHECKPOINT_DIR.glob("*.zip")}
    assert listed == on_disk, f"index and checkpoints/ disagree: {listed ^ on_disk}"
    for e in ENTRIES:
        assert e.algo in ALGORITHMS and e.env_id in trmarl.list_envs()
        assert e.path.stat().st_size < 2 * 1024 * 1024, f"{e.file} is over 2 MB"
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?|unknown", e.trmarl_commit)
        assert e.timesteps > 0 and e.eval_episodes > 0 and e.tolerance > 0 and e.test_episodes > 0
        assert "hyperparameters" in e.config and e.date


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.key for e in ENTRIES])
def test_pretrained_scores_near_recorded_return(entry: PretrainedEntry) -> None:
    model = trmarl.load_pretrained(entry.algo, entry.env_id, device="cpu")
    assert model.algorithm_name == entry.algo and model.env_id == entry.env_id
    assert model.num_timesteps == entry.timesteps
    vec = make_vec_env(entry.env_id, n_envs=min(entry.test_episodes, 8), seed=entry.eval_seed, env_kwargs=entry.env_kwargs)
    try:
        result = evaluate_policy(model, vec, n_eval_episodes=entry.test_episodes, deterministic=True, seed=entry.eval_seed)
    finally:
        vec.close()
    assert isinstance(result, EvaluationResult)
    assert abs(result.mean_reward - entry.eval_mean) <= entry.tolerance, (
        f"{entry.key}: {entry.test_episodes}-episode return {result.mean_reward:.3f}, recorded {entry.eval_mean:.3f} "
        f"+/- tolerance {entry.tolerance}"
    )


def test_unknown_entry_lists_close_matches() -> None:
    with pytest.raises(KeyError, match="Shipped"):
        get_pretrained("QMIX", "SMACSim-27m_vs_30m")
    if any(e.key == "QTRAN/MatrixGame-QTRAN" for e in ENTRIES):
        assert get_pretrained("qtran", "MatrixGame-QTRAN").algo == "QTRAN"  # case-insensitive algorithm
        with pytest.raises(KeyError, match="Did you mean: QTRAN/MatrixGame-QTRAN"):
            get_pretrained("QTRAN", "MatrixGame-QTRAM")
