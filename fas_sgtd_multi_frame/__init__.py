"""FAS-SGTD multi-frame stage: STPM (OFFB + ConvGRU) on a frozen single-frame network (fas_sgtd.md)."""
