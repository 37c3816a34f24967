"""Sampling: all tasks x episodes of a meta-batch in vector envs, one policy forward per step.

In this process (:class:`VectorSampler`) or spread over Ray actors (``ray_sampler.RaySampler``,
the ``ray`` extra), with the same episodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from meta_rl.sampling.vector import EpisodeSeeds, SampledRows, VectorSampler, make_env

if TYPE_CHECKING:
    from meta_rl.config import TrainConfig

__all__ = ["EpisodeSeeds", "SampledRows", "VectorSampler", "make_env", "make_sampler"]


def make_sampler(config: "TrainConfig", device: torch.device | str = "cpu") -> VectorSampler:
    """The sampler a config asks for (``sampler``: ``local`` or ``ray``)."""
    if config.sampler == "ray":
        from meta_rl.sampling.ray_sampler import RaySampler

        return RaySampler(
            config.env_id, env_kwargs=config.env_kwargs, vectorization=config.vectorization, device=device,
            chunk_envs=config.sampler_chunk_envs, workers=config.ray_workers, address=config.ray_address,
        )  # fmt: skip
    return VectorSampler(
        config.env_id, env_kwargs=config.env_kwargs, vectorization=config.vectorization, device=device,
        chunk_envs=config.sampler_chunk_envs,
    )  # fmt: skip
