"""Shared building blocks: networks, distributions, value normalisation, replay, serialization, callbacks, evaluation.

Modules are imported on demand (``from trmarl.common.networks import Actor``); nothing heavy happens here.
"""
