"""Progress bars: drawn on stderr when stdout and stderr are terminals, never into pipes or with --quiet."""

from __future__ import annotations

import io
import sys

from openfer.progress import ProgressBar, track


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_on_stderr_only_when_both_streams_are_terminals(monkeypatch) -> None:
    out, err = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with ProgressBar("eval PrivateTest", total=3) as bar:
        assert bar.shown
        bar.advance(3)
    assert "eval PrivateTest" in err.getvalue() and out.getvalue() == ""
    assert not ProgressBar("x", enabled=False).shown
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # stdout piped
    assert not ProgressBar("x").shown
    assert list(track(range(4), "x")) == [0, 1, 2, 3]

