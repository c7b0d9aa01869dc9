"""Package discovery: xares_hydra and its stage packages, plus conf/ and encoders/ installed inside it.

Everything else lives in pyproject.toml; setuptools has no declarative way to find the sub-packages
of folders mapped into another package's namespace.
"""

from setuptools import find_namespace_packages, find_packages, setup

MAPPED = {"xares_hydra.conf": "conf", "xares_hydra.encoders": "encoders"}


def mapped_packages(package: str, folder: str) -> list[str]:
    found = find_namespace_packages(where=folder, exclude=["*__pycache__*"])
    return [package, *(f"{package}.{name}" for name in found)]


packages = find_packages(include=["xares_hydra", "xares_hydra.*"])
for package, folder in MAPPED.items():
    packages += mapped_packages(package, folder)

setup(packages=packages)
