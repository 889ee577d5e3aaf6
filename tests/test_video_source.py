import cv2
import numpy as np
import pytest

from model.video_source import SourceError, VideoFileSource, probe_video


def _write_video(path, n=30, fps=30.0, size=(64, 48)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        img = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
        w.write(img)
    w.release()


def test_times_from_container_start_at_zero_and_increase(tmp_path):
    p = tmp_path / "v.avi"
    _write_video(p, n=30, fps=25.0)
    frames = list(VideoFileSource(p))
    assert len(frames) == 30
    t = np.array([f.t_s for f in frames])
    assert t[0] == 0.0
    assert np.allclose(np.diff(t), 1 / 25.0, atol=1e-3)
    assert [f.index for f in frames] == list(range(30))


def test_loop_keeps_clock_monotonic(tmp_path):
    p = tmp_path / "v.avi"
    _write_video(p, n=10, fps=10.0)
    src = VideoFileSource(p, loop=True)
    frames = []
    for f in src:
        frames.append(f)
        if len(frames) == 25:
            break
    t = np.array([f.t_s for f in frames])
    assert np.all(np.diff(t) > 0)
    assert np.allclose(np.diff(t), 0.1, atol=2e-3)


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(SourceError, match="cannot open|no readable"):
        VideoFileSource(bad)
    with pytest.raises(SourceError, match="not a file"):
        probe_video(tmp_path)
    notes = tmp_path / "notes.txt"  # FFmpeg itself would open it: a 25 fps picture of the text
    notes.write_text("subject 12, second session\n" * 20)
    assert cv2.VideoCapture(str(notes)).isOpened()
    with pytest.raises(SourceError, match="a text file"):
        probe_video(notes)


def test_single_threaded_decode_gives_the_frames_of_a_plain_decode(tmp_path, monkeypatch):
    """The file source asks FFmpeg for DECODE_THREADS decoder threads (less CPU); the frames are
    the ones a plain ``cv2.VideoCapture`` decode gives."""
    import model.video_source as vs

    p = tmp_path / "v.mp4"  # MPEG-4: FFmpeg decodes it on 2 threads by default (MJPG on one)
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(20):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    opened = []
    real_open = vs.VideoFileSource._open

    def spy(self):
        cap = real_open(self)
        opened.append(cap.get(cv2.CAP_PROP_N_THREADS))
        return cap

    monkeypatch.setattr(vs.VideoFileSource, "_open", spy)
    ours = [f.bgr for f in VideoFileSource(p)]
    cap = cv2.VideoCapture(str(p))
    plain = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        plain.append(bgr)
    assert len(ours) == len(plain) == 20
    assert all(np.array_equal(a, b) for a, b in zip(ours, plain, strict=True))
    assert opened == [vs.DECODE_THREADS]
