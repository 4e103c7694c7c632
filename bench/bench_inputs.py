"""What the bench scripts share: their common options, resized images, seeded noise,
running nstyle, and nstyle's exact beta'."""
import subprocess
import sys

import numpy as np
from PIL import Image


def fit(path, size):
    """The image at `path`, its long edge resized to `size` (Lanczos), as the bench feeds both sides."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    k = size / max(w, h)
    return im.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)


def noise_image(width, height, seed):
    """The initial image: uniform 8-bit noise from `seed`."""
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8))


def beta_from_log(line, alpha=1.0, gamma=5.0):
    """nstyle's beta' to full precision, from a log line: total = alpha L_c + gamma beta' L_gram.
    (The summary on stderr prints it to 5 digits, which would give PyTorch another objective.)"""
    return (line["total"] - alpha * line["content"]) / (gamma * line["style"]["gram"])


def add_job_args(ap):
    """The options every bench script shares: the nstyle binary, the weights, the two images
    and the output's long edge."""
    ap.add_argument("--nstyle", default="target/release/nstyle")
    ap.add_argument("--weights", default="../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors")
    ap.add_argument("--content", default="images/content/chelsea.jpg")
    ap.add_argument("--style", default="images/style/starry_night.jpg")
    ap.add_argument("--size", type=int, default=512)


def run_nstyle(cmd, env=None):
    """Runs an nstyle command line; its stdout, or exit with nstyle's one-line error."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"nstyle failed: {r.stderr.strip()}")
    return r.stdout
