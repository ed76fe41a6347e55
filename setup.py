"""Builds the BPF objects before packaging them, so a wheel (`pip install .`) carries
compiled CO-RE objects and no compiler is needed where it is installed."""

import pathlib
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent


class BuildPyWithBpf(build_py):
    def run(self):
        subprocess.run(["make", "-C", str(ROOT), "bpf"], check=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithBpf})
