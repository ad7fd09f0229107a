"""Shared test setup: Qt runs offscreen unless a developer asks for a real display."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The GUI stores settings; keep tests away from the developer's own.
os.environ.setdefault("GRADSIM_SETTINGS_ORG", "gradsim-tests")
