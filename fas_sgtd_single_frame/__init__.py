"""FAS-SGTD single-frame stage: RSGB FaceMapNet trained on depth (docs/methods/fas_sgtd.md)."""
