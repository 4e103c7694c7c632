#!/usr/bin/env python3
"""Does the authors' post-denoise help? (issue #12, item 1.) Applies scikit-image's Chambolle TV
denoising (weight 0.02 on a 0..1 image, the authors' setting) to every pairN.png in a folder of
results and writes pairN-denoised.png beside it, for bench/quality.py --existing to score.

  pip install scikit-image pillow numpy
  python3 bench/denoise_check.py /tmp/q/default [--weight 0.02]
"""
import argparse
import glob
import os
import re

import numpy as np
from PIL import Image
from skimage.restoration import denoise_tv_chambolle

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--weight", type=float, default=0.02)
ap.add_argument("--out", help="folder for the denoised pairN.png (default: FOLDER-denoised)")
a = ap.parse_args()
out = a.out or a.folder.rstrip("/") + "-denoised"
os.makedirs(out, exist_ok=True)
for path in sorted(glob.glob(os.path.join(a.folder, "pair*.png"))):
    if not re.fullmatch(r"pair\d+\.png", os.path.basename(path)):
        continue
    x = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    y = denoise_tv_chambolle(x, weight=a.weight, channel_axis=-1)
    Image.fromarray((np.clip(y, 0, 1) * 255).round().astype(np.uint8)).save(os.path.join(out, os.path.basename(path)))
    print(os.path.join(out, os.path.basename(path)))
