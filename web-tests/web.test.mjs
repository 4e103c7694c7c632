// A person in a real browser: loads the page, uploads two small images, starts a 64 px
// job, sees the preview change and the chart gain points, stops it, downloads the result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { URL, launch, png, outFile } from "./pages.mjs";

test("upload, start, watch, stop, download", { timeout: 120_000 }, async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1300, height: 950 } });
    const errors = [];
    page.on("pageerror", e => errors.push(e.message));
    // Every failed request is an error, but for the one refused on purpose below (400).
    page.on("console", m => m.type() === "error" && !/status of 400/.test(m.text()) && errors.push(m.text()));
    await page.goto(URL);
    await page.waitForSelector("#main-options input[name=size]");
    assert.equal(await page.inputValue("input[name=size]"), "512", "the CLI's default size");

    await page.setInputFiles("input[type=file][data-kind=content]", outFile("photo.png", png(80, 60, 1)));
    await page.setInputFiles("input[type=file][data-kind=style]", outFile("painting.png", png(64, 64, 2)));
    for (const kind of ["content", "style"]) {
      await page.waitForFunction(k =>
        document.querySelector(`.pick[data-kind=${k}] .name`).textContent.includes("×"), kind);
    }
    // A bad value is refused with the command line's message.
    await page.fill("input[name=size]", "8");
    await page.click("#start");
    await page.waitForFunction(() => document.querySelector("#form-error").textContent.length > 0);
    assert.match(await page.textContent("#form-error"), /^--size must be at least 16 px/);

    await page.fill("input[name=size]", "64");
    await page.fill("input[name=iterations]", "1000");
    await page.click("details summary");
    await page.fill("input[name=tol]", "0");
    await page.fill("input[name=min-progress]", "0");
    await page.click("#start");

    // The preview image changes and the chart gains points.
    const points = () => page.$eval("#chart polyline[data-series=total]",
      e => e.getAttribute("points").split(" ").length).catch(() => 0);
    await page.waitForFunction(() => document.querySelector("#preview").dataset.version > "0");
    const v1 = await page.getAttribute("#preview", "data-version");
    await page.waitForFunction(() => +document.querySelector("#chart").dataset.points >= 2);
    const n1 = await points();
    await page.waitForFunction(v => {
      const p = document.querySelector("#preview");
      return p.dataset.version !== v && p.complete && p.naturalWidth === 64;
    }, v1);
    await page.waitForFunction(n => {
      const l = document.querySelector("#chart polyline[data-series=total]");
      return l && l.getAttribute("points").split(" ").length > n + 2;
    }, n1);
    assert.ok((await points()) > n1);
    assert.match(await page.textContent("#status"), /iteration \d+\/1000 · [\d.]+ it\/s · elapsed .* · ETA/);
    assert.ok((await page.$$("#legend .key")).length >= 3, "content, gram and total in the legend");

    await page.click("#stop");
    await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("stopped"));
    await page.waitForSelector("#downloads a[data-format=png]:not(.disabled)");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#downloads a[data-format=png]"),
    ]);
    const bytes = readFileSync(await download.path());
    assert.deepEqual([...bytes.subarray(1, 4)], [80, 78, 71], "a PNG");
    assert.equal(bytes.readUInt32BE(16), 64, "64 px wide");
    assert.match(download.suggestedFilename(), /^nstyle-[0-9a-f]+\.png$/);
    const [deep] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#downloads a[data-format=png16]"),
    ]);
    assert.equal(readFileSync(await deep.path())[24], 16, "16 bits per channel");

    await page.waitForSelector("#history .card");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
