"""Algorithms: ``BaseAgent`` -> ``OnPolicyAgent`` / ``OffPolicyAgent`` -> one file per algorithm.

Import the classes from ``trmarl`` (``from trmarl import HAPPO``) or from their modules; nothing is imported here so
that ``import trmarl`` stays light.
"""
