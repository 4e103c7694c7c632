#!/usr/bin/env python3
"""Rebuild assets/vgg19-conv1_1-conv5_1.f16.safetensors from the f32 file in ../shared/models.

f16 halves the repository size; nstyle upcasts to f32 on load. Needs only numpy.
Usage: python3 tools/make_bundled_weights.py [SRC.f32.safetensors] [DST.f16.safetensors]
"""
import json
import struct
import sys

import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors"
dst = sys.argv[2] if len(sys.argv) > 2 else "assets/vgg19-conv1_1-conv5_1.f16.safetensors"

with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    body = f.read()

meta = header.pop("__metadata__", {})
meta = dict(meta)
meta["storage"] = "float16 copy of the float32 weights (round to nearest); upcast to float32 on load"
out_header = {"__metadata__": meta}
chunks = []
offset = 0
for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
    info = header[name]
    assert info["dtype"] == "F32", name
    a, b = info["data_offsets"]
    arr = np.frombuffer(body[a:b], dtype="<f4").astype("<f2")
    raw = arr.tobytes()
    out_header[name] = {"dtype": "F16", "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
    chunks.append(raw)
    offset += len(raw)

hjson = json.dumps(out_header, separators=(",", ":")).encode()
hjson += b" " * ((8 - len(hjson) % 8) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(hjson)))
    f.write(hjson)
    for c in chunks:
        f.write(c)
print(f"wrote {dst}: {offset} bytes of tensors")
