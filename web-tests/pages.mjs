// What the browser scripts share: the server's address (run.sh starts it), Chromium
// (Debian's, through playwright-core) and small PNG files made here.
import { chromium } from "playwright-core";
import { deflateSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const URL = process.env.NSTYLE_URL;
if (!URL) throw new Error("NSTYLE_URL is not set: run web-tests/run.sh");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
}

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/// An 8-bit RGB PNG of w x h with a pattern that depends on `seed`.
export function png(w, h, seed) {
  const raw = Buffer.alloc((3 * w + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * (3 * w + 1) + 1 + 3 * x;
      raw[i] = (x * (5 + seed) + y * 3) & 255;
      raw[i + 1] = (y * (7 + seed) + ((x * y) % 13) * 9) & 255;
      raw[i + 2] = ((x ^ y) * (3 + seed)) & 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/// Writes `bytes` under web-tests/out/ and returns the path.
export function outFile(name, bytes) {
  const dir = join(import.meta.dirname, "out");
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
