#!/usr/bin/env bash
# Each paper's main claim as a small study on the synthetic OULU-NPU: both arms of every claim,
# 3 training seeds each, tested, compared (mean ± std, 95% intervals, a verdict); see docs/claims.md.
#   bash scripts/claims.sh [--quick | --full] [--claims 1,3] [--seeds N]   (--help for all options)
# Results: work_dirs/claims/<claim>/summary.json and work_dirs/claims/claims.md. Rerunning skips
# every finished step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec python scripts/claims.py "$@"
