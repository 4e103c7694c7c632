// The page: choose a photo and a painting, set options (the command line's names and
// defaults, from /api/info), start, watch the job's events (server-sent), stop, download.
"use strict";

const $ = s => document.querySelector(s);
const state = {
  info: null,
  choice: { content: null, style: null },
  job: null,      // { id, events, source, ... } of the job on view
  jobs: { active: [], done: [] },
};

async function api(method, path, body, headers) {
  const r = await fetch(path, { method, body, headers });
  const j = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(j.error || `${r.status} ${r.statusText}`);
  return j;
}

function showError(msg) { $("#form-error").textContent = msg || ""; }

// ---------- setup: inputs and options ----------

function choose(kind, c) {
  state.choice[kind] = c;
  const box = document.querySelector(`.pick[data-kind=${kind}] .chosen`);
  box.querySelector("img").src = c ? c.url : "";
  box.querySelector(".name").textContent = c ? c.name : "none chosen";
  document.querySelectorAll(`.pick[data-kind=${kind}] .examples img`).forEach(img =>
    img.classList.toggle("selected", !!c && img.dataset.ref === c.ref));
}

async function upload(kind, file) {
  showError("");
  const box = document.querySelector(`.pick[data-kind=${kind}] .chosen .name`);
  box.textContent = `uploading ${file.name}…`;
  try {
    const u = await api("POST", `/api/images?name=${encodeURIComponent(file.name)}`, file,
      { "Content-Type": "application/octet-stream" });
    choose(kind, { ref: u.id, name: `${u.name} (${u.width}×${u.height})`, url: URL.createObjectURL(file) });
  } catch (e) {
    choose(kind, null);
    showError(e.message);
  }
}

function optionField(opt, main) {
  const wrap = document.createElement("label");
  wrap.className = "field";
  wrap.title = opt.help;
  const name = document.createElement("span");
  name.textContent = opt.name === "style-weight" ? "style-weight (γ)" : opt.name;
  wrap.appendChild(name);
  let input;
  if (opt.name === "style-loss") {
    input = document.createElement("input");
    input.setAttribute("list", "style-losses");
    const dl = document.createElement("datalist");
    dl.id = "style-losses";
    for (const m of state.info.options.style_losses) dl.appendChild(new Option(m, m));
    dl.appendChild(new Option("mmd-linear:0.5,mmd-gaussian:0.5", "mmd-linear:0.5,mmd-gaussian:0.5"));
    wrap.appendChild(dl);
  } else if (opt.choices.length) {
    input = document.createElement("select");
    if (!main) input.appendChild(new Option(`default (${opt.default ?? "auto"})`, ""));
    for (const c of opt.choices) input.appendChild(new Option(c, c));
  } else {
    input = document.createElement("input");
  }
  input.name = opt.name;
  input.placeholder = opt.default ?? "auto";
  if (main && opt.default != null) input.value = opt.default;
  const help = document.createElement("small");
  help.textContent = opt.help;
  wrap.append(input, help);
  return wrap;
}

function buildForm(info) {
  for (const o of info.options.main) $("#main-options").appendChild(optionField(o, true));
  for (const o of info.options.more) $("#more-options").appendChild(optionField(o, false));
  for (const e of info.examples) {
    const img = document.createElement("img");
    img.src = e.url;
    img.alt = img.title = e.name;
    img.dataset.ref = `example:${e.name}`;
    img.addEventListener("click", () => choose(e.kind, { ref: img.dataset.ref, name: e.name, url: e.url }));
    document.querySelector(`.pick[data-kind=${e.kind}] .examples`).appendChild(img);
  }
  document.querySelectorAll("input[type=file]").forEach(inp =>
    inp.addEventListener("change", () => inp.files[0] && upload(inp.dataset.kind, inp.files[0])));
  $("#style-only").addEventListener("change", e =>
    document.querySelector(".pick[data-kind=content]").classList.toggle("off", e.target.checked));
  $("#start").addEventListener("click", start);
}

async function start() {
  showError("");
  const styleOnly = $("#style-only").checked;
  if (!state.choice.style) return showError("Choose a painting first.");
  if (!styleOnly && !state.choice.content) return showError("Choose a photo first (or tick “none”).");
  const options = {};
  for (const el of $("#options").elements) {
    if (el.name && el.value.trim() !== "") options[el.name] = el.value.trim();
  }
  try {
    const r = await api("POST", "/api/jobs", JSON.stringify({
      content: styleOnly ? null : state.choice.content.ref,
      style: state.choice.style.ref,
      options,
    }), { "Content-Type": "application/json" });
    showJob(r.id);
  } catch (e) {
    showError(e.message);
  }
}

// ---------- the job on view ----------

function showJob(id) {
  if (state.job && state.job.id === id) return;
  if (state.job && state.job.source) state.job.source.close();
  const job = { id, events: [], points: [], stageStarts: [], plan: null, stage: null,
    last: null, end: null, imageLoading: false, imageWanted: false, iterations: 0 };
  state.job = job;
  $("#job-title").textContent = `Job ${id}`;
  $("#status").textContent = "waiting…";
  $("#bar").style.width = "0";
  $("#preview").removeAttribute("src");
  $("#preview-caption").textContent = "";
  renderDownloads();
  renderSettings();
  drawLosses();
  const src = new EventSource(`/api/jobs/${id}/events`);
  job.source = src;
  src.onmessage = m => { if (state.job === job) onEvent(job, JSON.parse(m.data)); };
  src.addEventListener("end", () => src.close());
}

function onEvent(job, e) {
  job.events.push(e);
  switch (e.event) {
    case "planned": job.plan = e; break;
    case "stage_started": job.stage = e; job.stageStarts.push(job.iterations + 1); break;
    case "iteration":
      job.iterations += 1;
      job.last = e;
      job.points.push({ x: job.iterations, e });
      refreshPreview();
      break;
    case "finished": case "stopped": case "failed": case "cancelled":
      job.end = e;
      refreshPreview();
      break;
  }
  scheduleDraw();
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; renderStatus(); drawLosses(); renderDownloads(); });
}

function fmtTime(s) {
  if (!isFinite(s)) return "–";
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` : `${s} s`;
}

// Iterations still allowed, in units of the current stage's iteration cost (pixels).
function remainingWork(job) {
  const it = job.last;
  if (!job.plan || !it) return { left: NaN, total: NaN };
  const px = it.width * it.height;
  let left = it.max_iterations - it.iteration, total = 0, done = 0;
  job.plan.stages.forEach((s, k) => {
    const w = s.max_iterations * s.width * s.height / px;
    total += w;
    if (k + 1 < it.stage) done += w;
    if (k + 1 > it.stage) left += w;
  });
  done += it.iteration;
  return { left, total, done };
}

function renderStatus() {
  const job = state.job;
  if (!job) return;
  const it = job.last;
  if (job.end) {
    const e = job.end;
    const msg = {
      finished: `done: ${e.iterations} iterations in ${fmtTime(e.elapsed_s)}, ${(e.stop || "").replace("_", " ")}`,
      stopped: `stopped after ${e.iterations} iterations (${fmtTime(e.elapsed_s)}); the current image is kept`,
      failed: `failed: ${e.error}`,
      cancelled: "cancelled before it started",
    }[e.event];
    $("#status").textContent = msg;
    $("#status").className = e.event === "failed" ? "error" : "";
    $("#bar").style.width = e.event === "finished" ? "100%" : $("#bar").style.width;
    $("#stop").disabled = true;
    return;
  }
  $("#stop").disabled = false;
  $("#status").className = "";
  if (!it) {
    $("#status").textContent = job.plan ? `planned ${job.plan.width}×${job.plan.height}; preparing…` : "queued…";
    return;
  }
  const recent = job.points.slice(-10).map(p => p.e.step_s);
  const step = recent.reduce((a, b) => a + b, 0) / recent.length;
  const { left, total, done } = remainingWork(job);
  const stages = job.stage ? job.stage.stages : 1;
  $("#status").textContent = [
    stages > 1 ? `stage ${it.stage}/${stages} (${it.width}×${it.height})` : `${it.width}×${it.height}`,
    `iteration ${it.iteration}/${it.max_iterations}`,
    `${(1 / step).toFixed(step < 1 ? 1 : 2)} it/s`,
    `elapsed ${fmtTime(it.elapsed_s)}`,
    `ETA ≤ ${fmtTime(left * step)}`,
  ].join(" · ");
  $("#bar").style.width = `${Math.min(100, 100 * done / total)}%`;
}

function lossSeries(job) {
  const perLayer = $("#per-layer").checked;
  const series = new Map();
  const add = (name, x, y) => {
    if (y == null) return;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([x, y]);
  };
  for (const { x, e } of job.points) {
    if (perLayer) {
      for (const [group, taps] of Object.entries(e.terms || {}))
        for (const [tap, v] of Object.entries(taps)) add(`${group} ${tap}`, x, v);
    } else {
      add("content", x, e.content);
      for (const [g, v] of Object.entries(e.style || {})) add(g, x, v);
      add("total", x, e.total);
    }
  }
  return [...series].map(([name, points]) => ({ name, points }));
}

function drawLosses() {
  const job = state.job;
  drawChart($("#chart"), $("#legend"), job ? lossSeries(job) : [], job ? job.stageStarts : []);
  $("#chart").dataset.points = job ? job.points.length : 0;
}

function refreshPreview() {
  const job = state.job;
  if (!job) return;
  if (job.imageLoading) { job.imageWanted = true; return; }
  job.imageLoading = true;
  job.imageWanted = false;
  const img = new Image();
  const done = ok => {
    if (state.job !== job) return;
    if (ok) {
      $("#preview").src = img.src;
      $("#preview").dataset.version = img.dataset.version;
      const it = job.last;
      $("#preview-caption").textContent = it ? `iteration ${it.iteration}${job.end ? " (final)" : ""}` : "";
    }
    job.imageLoading = false;
    if (job.imageWanted) refreshPreview();
  };
  img.dataset.version = `${job.iterations}${job.end ? "-end" : ""}`;
  img.onload = () => done(true);
  img.onerror = () => done(false);
  img.src = `/api/jobs/${job.id}/image?v=${img.dataset.version}`;
}

function briefOf(id) {
  return [...state.jobs.active, ...state.jobs.done].find(j => j.id === id);
}

function renderDownloads() {
  const job = state.job;
  const b = job && briefOf(job.id);
  const ready = !!(b && b.has_result);
  document.querySelectorAll("#downloads a").forEach(a => {
    a.classList.toggle("disabled", !ready);
    if (ready) {
      a.href = `/api/jobs/${job.id}/result?format=${a.dataset.format}`;
      a.setAttribute("download", "");
    } else {
      a.removeAttribute("href");
    }
  });
}

function describeSettings(b) {
  if (!b) return "";
  const s = b.settings;
  if (s.command) return s.command;
  const opts = Object.entries(s.options).map(([k, v]) => `--${k} ${v}`).join(" ");
  return `photo: ${s.content ?? "none (texture)"}\npainting: ${s.style}\n${opts || "(defaults)"}`;
}

function renderSettings() {
  $("#settings").textContent = state.job ? describeSettings(briefOf(state.job.id)) : "";
}

// ---------- queue and history ----------

function renderJobs() {
  const q = $("#queue");
  q.replaceChildren();
  for (const j of state.jobs.active) {
    const li = document.createElement("li");
    const p = j.progress || {};
    li.textContent = j.state === "running"
      ? `${j.id}: running${p.iteration ? `, iteration ${p.iteration}/${p.max_iterations}` : ""} `
      : `${j.id}: waiting (#${j.position}) `;
    const view = document.createElement("button");
    view.textContent = "view";
    view.onclick = () => showJob(j.id);
    const stop = document.createElement("button");
    stop.textContent = j.state === "running" ? "stop" : "cancel";
    stop.onclick = () => api("POST", `/api/jobs/${j.id}/stop`).catch(e => showError(e.message));
    li.append(view, stop);
    q.appendChild(li);
  }
  if (!state.jobs.active.length) q.innerHTML = "<li class=muted>empty</li>";
  const h = $("#history");
  h.replaceChildren();
  for (const j of state.jobs.done) {
    const card = document.createElement("div");
    card.className = "card";
    card.onclick = () => showJob(j.id);
    const s = j.summary || {};
    const result = j.has_result ? `<img class="result" src="/api/jobs/${j.id}/image" alt="result">` : "<div class=result></div>";
    card.innerHTML = `${result}<div class="inputs">
      <img src="/api/jobs/${j.id}/input/content" alt="" onerror="this.remove()">
      <img src="/api/jobs/${j.id}/input/style" alt="" onerror="this.remove()"></div>
      <div class="meta"></div>`;
    const o = j.settings.options || {};
    card.querySelector(".meta").textContent = [
      new Date(j.created * 1000).toLocaleString(),
      `${o["style-loss"] || "gram"}, γ ${o["style-weight"] || "5"}, ${o.size || "512"} px`,
      j.state === "failed" ? `failed: ${j.error}` : `${j.state}${s.iterations ? `, ${s.iterations} it, ${fmtTime(s.elapsed_s)}` : ""}`,
    ].join("\n");
    h.appendChild(card);
  }
  if (!state.jobs.done.length) h.innerHTML = "<p class=muted>none yet</p>";
  renderDownloads();
  renderSettings();
}

function listen() {
  const src = new EventSource("/api/events");
  src.addEventListener("jobs", m => {
    state.jobs = JSON.parse(m.data);
    $("#server").textContent = serverLine();
    if (!state.job && state.jobs.active.length) showJob(state.jobs.active[0].id);
    renderJobs();
  });
  src.onerror = () => { $("#server").textContent = "connection lost; retrying…"; };
}

function serverLine() {
  const i = state.info;
  return `${i.address} · ${i.loopback ? "this computer only" : "reachable from other computers"}` +
    (i.mode === "watch" ? " · watching a command-line run" : "");
}

async function main() {
  state.info = await api("GET", "/api/info");
  $("#server").textContent = serverLine();
  if (state.info.mode === "watch") document.body.classList.add("watch");
  else buildForm(state.info);
  $("#stop").addEventListener("click", () => state.job &&
    api("POST", `/api/jobs/${state.job.id}/stop`).catch(e => showError(e.message)));
  $("#per-layer").addEventListener("change", drawLosses);
  drawLosses();
  listen();
}

main().catch(e => showError(e.message));
