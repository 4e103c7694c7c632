#!/usr/bin/env bash
# Rebuilds assets/DejaVuSans-subset.ttf, the font the contact sheets (src/sheet/) draw
# their labels with: DejaVu Sans from Debian's fonts-dejavu-core (2.37), cut down to the
# characters labels use (ASCII, Latin-1, Greek, dashes, quotes, arrows, minus, <= >= ~=)
# so that the binary carries 27 KB instead of 760 KB. License: assets/DejaVuSans-LICENSE.txt.
# Needs: apt-get install fonts-dejavu-core; pip install fonttools.
set -euo pipefail
cd "$(dirname "$0")/.."
pyftsubset /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
  --unicodes="U+0020-007E,U+00A0-00FF,U+0391-03A9,U+03B1-03C9,U+2013,U+2014,U+2018-201D,U+2026,U+2190-2193,U+2212,U+2248,U+2264,U+2265" \
  --no-hinting --desubroutinize --layout-features='kern' \
  --output-file=assets/DejaVuSans-subset.ttf
echo "wrote assets/DejaVuSans-subset.ttf"
