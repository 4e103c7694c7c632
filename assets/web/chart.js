// A small line chart of loss terms over iterations, drawn as SVG: log-scaled y (the
// terms differ by orders of magnitude), one line per term, dashed lines at stage starts.
"use strict";

const CHART_COLORS = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599",
  "#5c940d", "#c2255c", "#495057", "#f08c00", "#3b5bdb", "#087f5b"];

function drawChart(svg, legend, series, stageStarts) {
  const W = 520, H = 300, L = 58, R = 10, T = 10, B = 30;
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  legend.replaceChildren();
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  let xmax = 1, ymin = Infinity, ymax = -Infinity;
  for (const s of series) for (const [x, y] of s.points) {
    if (!(y > 0) || !isFinite(y)) continue;
    xmax = Math.max(xmax, x);
    ymin = Math.min(ymin, y);
    ymax = Math.max(ymax, y);
  }
  el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "plot" });
  if (!isFinite(ymin)) {
    el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "losses appear here");
    return;
  }
  let lo = Math.floor(Math.log10(ymin)), hi = Math.ceil(Math.log10(ymax));
  if (hi === lo) hi = lo + 1;
  const sx = x => L + (x - 1) / Math.max(1, xmax - 1) * (W - L - R);
  const sy = y => T + (hi - Math.log10(y)) / (hi - lo) * (H - T - B);
  const step = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let p = lo; p <= hi; p += step) {
    el("line", { x1: L, x2: W - R, y1: sy(10 ** p), y2: sy(10 ** p), class: "grid" });
    el("text", { x: L - 4, y: sy(10 ** p) + 4, "text-anchor": "end", class: "axis" }, `1e${p}`);
  }
  const xstep = niceStep(xmax);
  for (let x = xstep; x <= xmax; x += xstep) {
    el("text", { x: sx(x), y: H - B + 16, "text-anchor": "middle", class: "axis" }, String(x));
  }
  el("text", { x: W - R, y: H - 2, "text-anchor": "end", class: "axis" }, "iteration");
  for (const s of stageStarts) {
    if (s > 1) el("line", { x1: sx(s - 0.5), x2: sx(s - 0.5), y1: T, y2: H - B, class: "stage" });
  }
  series.forEach((s, i) => {
    const color = CHART_COLORS[i % CHART_COLORS.length];
    const pts = s.points.filter(([, y]) => y > 0 && isFinite(y))
      .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    if (pts.length) {
      el("polyline", { points: pts.join(" "), fill: "none", stroke: color,
        "stroke-width": s.name === "total" ? 2.5 : 1.5, "data-series": s.name });
    }
    const item = document.createElement("span");
    item.className = "key";
    item.innerHTML = `<i style="background:${color}"></i>`;
    item.append(s.name);
    legend.appendChild(item);
  });
}

function niceStep(n) {
  const raw = n / 6;
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
