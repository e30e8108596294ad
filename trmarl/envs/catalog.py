"""The built-in environment ids: a table of strings only, so listing ids imports no simulator.

Families:
    * ``MaMuJoCo-<Scenario>-<conf>``: Multi-Agent MuJoCo through gymnasium-robotics (``trmarl.envs.mamujoco``).
    * ``SMACSim-<map>``: trmarl's SMAC-compatible combat simulator (``trmarl.envs.smacsim``).
    * ``SMAC-<map>``: the adapter to real StarCraft II through oxwhirl's ``smac`` package (``trmarl.envs.sc2``).
    * The QTRAN paper's games: ``MatrixGame-QTRAN``, ``GaussianSqueeze``, ``MultiDomainGaussianSqueeze``,
      ``PredatorPrey-5x5`` and ``PredatorPrey-7x7`` (``trmarl.envs.toy``, ``trmarl.envs.predator_prey``).
"""

from __future__ import annotations

from trmarl.envs.registry import register

__all__ = ["MAMUJOCO_CONFIGS", "SMAC_MAPS", "register_builtin_envs"]

#: (scenario, trmarl conf, gymnasium-robotics agent_conf). Ids use ``x`` where gymnasium-robotics writes ``|``.
MAMUJOCO_CONFIGS: tuple[tuple[str, str, str], ...] = (
    ("HalfCheetah", "2x3", "2x3"),
    ("HalfCheetah", "6x1", "6x1"),
    ("Ant", "2x4", "2x4"),
    ("Ant", "2x4d", "2x4d"),
    ("Ant", "4x2", "4x2"),
    ("Hopper", "3x1", "3x1"),
    ("Walker2d", "2x3", "2x3"),
    ("Humanoid", "9x8", "9|8"),
    ("HumanoidStandup", "9x8", "9|8"),
    ("Reacher", "2x1", "2x1"),
    ("Pusher", "3p", "3p"),
    ("Swimmer", "2x1", "2x1"),
    ("ManySegmentSwimmer", "10x2", "10x2"),
    ("ManySegmentSwimmer", "4x2", "4x2"),
    ("ManySegmentAnt", "2x3", "2x3"),
    ("ManySegmentAnt", "3x2", "3x2"),
    ("CoupledHalfCheetah", "1p1", "1p1"),
)

#: The 23 SMAC maps of ``shared/specs/smacsim.md``.
SMAC_MAPS: tuple[str, ...] = (
    "3m", "8m", "25m", "5m_vs_6m", "8m_vs_9m", "10m_vs_11m", "27m_vs_30m", "MMM", "MMM2", "2s3z", "3s5z",
    "3s5z_vs_3s6z", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "1c3s5z", "2m_vs_1z", "corridor", "6h_vs_8z", "2s_vs_1sc",
    "so_many_baneling", "bane_vs_bane", "2c_vs_64zg",
)  # fmt: skip


def register_builtin_envs() -> None:
    """Register every built-in id (idempotent)."""
    for scenario, conf, gr_conf in MAMUJOCO_CONFIGS:
        register(
            f"MaMuJoCo-{scenario}-{conf}",
            "trmarl.envs.mamujoco:MaMuJoCoEnv",
            {"scenario": scenario, "agent_conf": gr_conf},
            family="mamujoco",
            override=True,
        )
    for map_name in SMAC_MAPS:
        register(
            f"SMACSim-{map_name}",
            "trmarl.envs.smacsim.parallel:SMACSimParallelEnv",
            {"map_name": map_name},
            vec_entry_point="trmarl.envs.smacsim.parallel:SMACSimVecEnv",
            family="smacsim",
            override=True,
        )
        register(f"SMAC-{map_name}", "trmarl.envs.sc2:SMACParallelEnv", {"map_name": map_name}, family="smac", override=True)
    register("MatrixGame-QTRAN", "trmarl.envs.toy:MatrixGameEnv", {}, family="toy", override=True)
    register("GaussianSqueeze", "trmarl.envs.toy:GaussianSqueezeEnv", {"multi_domain": False}, family="toy", override=True)
    register(
        "MultiDomainGaussianSqueeze", "trmarl.envs.toy:GaussianSqueezeEnv", {"multi_domain": True}, family="toy", override=True
    )
    register(
        "PredatorPrey-5x5",
        "trmarl.envs.predator_prey:PredatorPreyEnv",
        {"grid_size": 5, "n_predators": 2, "n_prey": 1},
        family="toy",
        override=True,
    )
    register(
        "PredatorPrey-7x7",
        "trmarl.envs.predator_prey:PredatorPreyEnv",
        {"grid_size": 7, "n_predators": 4, "n_prey": 2},
        family="toy",
        override=True,
    )
