"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test bootstraps pip in each sanity virtual environment by running a cached
``get-pip.py``. Its download host is unreachable from our CI, so ``make test`` places
this file in ansible-test's cache: pip comes from the standard library's ensurepip and
the requested packages from the configured package index.
"""
from __future__ import annotations

import subprocess
import sys

# get-pip.py options that `pip install` does not understand.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    """Install pip with ensurepip, then install the requested packages with it."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
