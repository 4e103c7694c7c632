// docs/gallery/web.png: the page during a run (the bundled Chelsea and Starry Night,
// 256 px), taken after 25 iterations (it converges at 32); the job is stopped afterwards.
import { join } from "node:path";
import { URL, launch } from "./pages.mjs";

const out = process.argv[2] || join(import.meta.dirname, "..", "docs", "gallery", "web.png");
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(URL);
  await page.waitForSelector("#main-options input[name=size]");
  await page.click(".pick[data-kind=content] .examples img[title=chelsea]");
  await page.click(".pick[data-kind=style] .examples img[title=starry_night]");
  await page.fill("input[name=size]", "256");
  await page.fill("input[name=iterations]", "300");
  await page.click("#start");
  await page.waitForFunction(() => +document.querySelector("#chart").dataset.points >= 25,
    null, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelector("#preview").complete);
  await page.screenshot({ path: out });
  await page.click("#stop");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("stopped"));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
