"""setuptools' build, plus one file: ``meta_rl_gymnasium.pth`` into site-packages.

The .pth imports ``_meta_rl_gymnasium`` at interpreter startup so that ``gymnasium.make("MetaRL/...")``
works without importing the project first (Gymnasium 1.x has no plugin entry points). Everything
else is in setup.cfg.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "meta_rl_gymnasium.pth"


class BuildPyWithPth(build_py):
    """``build_py`` that also puts the .pth at the root of the wheel (site-packages)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable wheel is assembled from the folder that `install_lib` names (setuptools'
            # editable_wheel points it there); build_lib is thrown away.
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        self.copy_file(PTH, os.path.join(target, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH))
        return outputs


setup(cmdclass={"build_py": BuildPyWithPth})
