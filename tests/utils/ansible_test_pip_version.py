"""Print the pip version ansible-test bootstraps into its virtual environments."""
from __future__ import annotations

import os
import re
import sys

import ansible_test


def main() -> None:
    """Read the pinned pip version from ansible-test's own source."""
    path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(path, encoding="utf-8") as handle:
        match = re.search(r"pip='([0-9.]+)'", handle.read())
    if not match:
        sys.exit("cannot find the pip version ansible-test pins; update tests/utils/ansible_test_pip_version.py")
    sys.stdout.write(match.group(1) + "\n")


if __name__ == "__main__":
    main()
