"""Inputs shared by the bench scripts: resized images, seeded noise, nstyle's exact beta'."""
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
