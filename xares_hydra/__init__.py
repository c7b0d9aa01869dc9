"""xares-hydra: the X-ARES audio-encoder benchmark, declarative and fast, driven by Hydra."""

__version__ = "0.1.0"
