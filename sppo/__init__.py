"""SPPO: Sequence-Level PPO as a plug-in for stock verl."""

__version__ = "0.1.0"
