"""Progress a redirected log can show: lines when stderr is not a terminal, a bar when it is."""

import io
import re
import sys

import pytest


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_work_progress_prints_a_line_per_unit_with_the_time_left(capsys):
    from sklearn_ssl.utils import WorkProgress

    bar = WorkProgress(4, "study fits")
    for k in range(3):
        bar.update(f"fit {k}", 1.25)
    bar.update("the last two", 0.5, n=1)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"\s+study fits 1/4: fit 0 \(1\.2 s; \d+ s elapsed, about \d+ s left\)", lines[0])
    assert lines[-1].strip().startswith("study fits 4/4: the last two (0.5 s;") and lines[-1].endswith("done)")


def test_work_progress_silent_when_disabled_and_a_bar_on_a_terminal(capsys, monkeypatch):
    from sklearn_ssl.utils import WorkProgress

    bar = WorkProgress(2, "quiet", enabled=False)
    bar.update("a", 1.0)
    bar.close()
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = WorkProgress(2, "on a terminal")
    bar.update("a", 1.0)
    bar.update("b", 1.0)
    bar.close()
    out = sys.stderr.getvalue()
    assert "on a terminal" in out and "2/2" in out and "about" not in out  # tqdm's bar, not the log lines


@pytest.mark.parametrize("every, expected", [(1e9, [1, 4]), (0.0, [1, 2, 3, 4])])
def test_epoch_bar_logs_first_last_and_every_few_seconds(every, expected, capsys, monkeypatch):
    import numpy as np

    from sklearn_ssl import ContrastiveEmbedder
    from sklearn_ssl.utils import _progress, epoch_bar

    monkeypatch.setattr(_progress, "LOG_EVERY_S", every)
    X = np.random.default_rng(0).normal(size=(16, 2, 8, 8)).astype(np.float32)
    ContrastiveEmbedder(max_epochs=4, batch_size=8, random_state=0, callbacks=[epoch_bar("pretraining", True)]).fit(X)
    err = capsys.readouterr().err
    epochs = [int(m) for m in re.findall(r"pretraining: epoch (\d)/4, loss -?\d+\.\d{3} \(\d+ s\)", err)]
    assert epochs == expected
    ContrastiveEmbedder(max_epochs=2, batch_size=8, random_state=0, callbacks=[epoch_bar("silent", False)]).fit(X)
    assert "silent" not in capsys.readouterr().err
