"""Sampling: all tasks x episodes of a meta-batch in vector envs, one policy forward per step."""

from meta_rl.sampling.vector import VectorSampler, make_env

__all__ = ["VectorSampler", "make_env"]
