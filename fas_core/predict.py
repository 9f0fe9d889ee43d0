"""Liveness prediction on images, folders of images, video files and a camera.

    python -m fas_core.predict --checkpoint CKPT INPUT... [--save DIR] [--json OUT]
    python -m fas_core.predict --checkpoint CDCN_U_P1.pkl --method cdcn_u --threshold 0.5 photo.jpg
    python -m fas_core.predict --checkpoint CKPT --camera 0 --max-frames 100

Every frame goes through MTCNN (:mod:`fas_core.face_detector`); every face found is cropped at
the checkpoint's test crop scale (1.3 for both papers), resized to the model input (through the
crop cache's JPEG step for a model trained on it, :mod:`fas_core.crop_cache`), normalised as the
checkpoint's input spec says and scored by the method's score rule (the one its dev threshold was
chosen with; :mod:`fas_core.method`). A face is live when its score is at least the threshold (the
dev threshold ``test.py`` stored in the checkpoint, docs/metrics.md), else an attack.

A clip model (the checkpoint's input spec has ``clip_frames`` T > 1, taken ``clip_interval`` k
apart) scores clips; the faces are detected on the first frame of the clip and the same box crops
every frame of it (docs/methods/fas_sgtd.md: one crop per clip). It needs a video, a folder of
frames (read in name order as one sequence) or a camera.

A frame without a face is reported as such and never scored. Exit status: 0 when every input
had a face, 3 when at least one input had none (``EXIT_NO_FACE``), 1 when an input could not be
read or processed, 2 for a usage error (such as a checkpoint without a threshold and no
``--threshold``, or a checkpoint that cannot be used: missing, damaged, of another method, with
non-finite weights), printed as one line.

The work is done by :mod:`fas_core.inference`: ``loading`` (checkpoint -> model),
``preprocess`` (crops, normalisation, face depth maps), ``predictor``, ``sources`` (inputs),
``drawing`` (annotated output) and ``cli`` (this command line).
"""

from __future__ import annotations

import sys

from .inference.cli import EXIT_ERROR, EXIT_NO_FACE, EXIT_OK, EXIT_USAGE, main
from .inference.loading import LoadedModel, UsageError, load_model
from .inference.predictor import Predictor

__all__ = ["EXIT_ERROR", "EXIT_NO_FACE", "EXIT_OK", "EXIT_USAGE", "LoadedModel", "Predictor", "UsageError",
           "load_model", "main"]

if __name__ == "__main__":
    sys.exit(main())
