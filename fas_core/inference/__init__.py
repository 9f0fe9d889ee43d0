"""Inference on faces in images, videos and camera frames (``python -m fas_core.predict``), by job:

* :mod:`.loading` - checkpoint -> :class:`~.loading.LoadedModel` (the only user of the method interface);
* :mod:`.preprocess` - crops, normalisation, the face depth maps scores are masked with;
* :mod:`.predictor` - :class:`~.predictor.Predictor`: detect, prepare, score;
* :mod:`.sources` - images, folders, videos and cameras as frames;
* :mod:`.drawing` - annotated frames and videos;
* :mod:`.cli` - the command line.
"""
