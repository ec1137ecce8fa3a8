"""Make the collection importable as ansible_collections.mimecast_mse.sync_engine.

The repository root is the collection; tests import and run it through a symlinked
ansible_collections tree (the same one `make collection` builds), so they always see
the working copy.
"""
from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "utils"))

from stage_collection import stage_link  # noqa: E402  pylint: disable=wrong-import-position

COLLECTIONS_ROOT = os.path.join(REPO, ".build", "linked")
stage_link(REPO, COLLECTIONS_ROOT)
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_ROOT
