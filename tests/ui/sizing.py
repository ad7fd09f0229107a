"""Helpers for tests that look at a window at a given size (agreement, history, quiz, lesson bar)."""

from __future__ import annotations

from .conftest import settle


def sized(qtbot, window, width: int, height: int) -> None:
    """Resize a window, let it follow (type scale, drawer, compact scene bar) and check that it took
    the size: a child's minimum width can hold a window wider than asked, and then every measurement
    made "at 1024 pixels" is made at another width."""
    window.resize(width, height)
    window._follow_size()
    settle()
    assert (window.width(), window.height()) == (width, height)


def settled(label) -> bool:
    """A wrapped label has been given the height its text needs (the layout has caught up)."""
    return label.height() + 2 >= label.heightForWidth(label.contentsRect().width())
