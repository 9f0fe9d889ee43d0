"""Reading video frames with OpenCV while catching the frames the decoder could not decode fully.

When a file ends inside a frame (a cut or interrupted copy) or a frame's data is damaged, FFmpeg
still hands that frame over, with the missing part concealed (grey or smeared blocks), and
``cv2.VideoCapture.read`` says nothing. FFmpeg does report it, though, on the process's standard
error (file descriptor 2), as ``[<codec> @ 0x...] <what went wrong>`` lines at its error level,
which OpenCV leaves on. :class:`CheckedCapture` sends descriptor 2 to a scratch file while each
frame decodes, so every frame comes with the decoder errors raised while decoding it; decoding
runs in one thread so that an error cannot be raised while another frame is being read. Lines
that are not FFmpeg's are passed on to the real standard error.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

_FFMPEG_LINE = re.compile(r"^\[(?P<source>[\w.-]+) @ (0x)?[0-9a-fA-F]+\] (?P<text>.*)$")


class CheckedCapture:
    """``cv2.VideoCapture`` of one file whose :meth:`read` also returns the decoder's error messages."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        self._log = tempfile.TemporaryFile()

    def is_opened(self) -> bool:
        return bool(self.cap.isOpened())

    def announced_frames(self) -> int:
        """The frame count the container announces (0 when it does not say)."""
        return max(0, int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def read(self) -> tuple[np.ndarray | None, list[str]]:
        """The next frame (``None`` at the end) and the decoder errors raised while decoding it
        (``"mjpeg: overread 8"``: the decoder's name and message)."""
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(self._log.fileno(), 2)
        try:
            ok, frame = self.cap.read()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        return (frame if ok else None), self._take_log()

    def _take_log(self) -> list[str]:
        if os.fstat(self._log.fileno()).st_size == 0:
            return []
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").splitlines()
        self._log.seek(0)
        self._log.truncate()
        matches = [(line, _FFMPEG_LINE.match(line)) for line in lines if line.strip()]
        errors = [f"{m['source']}: {m['text']}" for _, m in matches if m]
        others = [line for line, m in matches if not m]
        if others:
            os.write(2, ("\n".join(others) + "\n").encode("utf-8"))
        return errors

    def close(self) -> None:
        self.cap.release()
        self._log.close()

    def __enter__(self) -> CheckedCapture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
