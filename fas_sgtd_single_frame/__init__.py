"""FAS-SGTD single-frame stage: RSGB FaceMapNet trained on depth (fas_sgtd.md)."""
