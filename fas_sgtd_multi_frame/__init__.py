"""FAS-SGTD multi-frame stage: STPM (OFFB + ConvGRU) on a frozen single-frame network (docs/methods/fas_sgtd.md)."""
