// vidlabel report: the overview (index.html) and a video's page (video.html), in plain JavaScript.
//
// The data comes as <script> files (data/*.js), since browsers refuse fetch() on file:// pages. Every name, URI,
// label and message is put into the page as text (el() makes text nodes, setAttribute sets plain attributes), never
// parsed as HTML; links are built from ids and encodeURIComponent, never from names.
"use strict";

const PAGE_SIZE = 100;
const NEUTRAL = "#b8b8b8";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function baseName(uri) {
  const trimmed = uri.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || uri;
}

function seconds(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${String(sec).padStart(2, "0")} s`;
}

function clock(s) {
  const m = Math.floor(s / 60), sec = s - 60 * m;
  return `${m}:${sec.toFixed(1).padStart(4, "0")}`;
}

function labelLink(label) {
  return el("a", { href: `index.html#label=${encodeURIComponent(label)}`, class: "label-link" }, label);
}

function fill(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
}

// ---------------------------------------------------------------------------------------------------------------
// The overview

function overviewPage() {
  const data = window.VIDLABEL_OVERVIEW;
  const list = window.VIDLABEL_VIDEOS;
  const totals = data.totals;
  const run = data.run;
  document.getElementById("run-line").textContent =
    `Run ${run.run_id || "?"}, finished ${run.finished || "?"}, model ${run.model.name || "?"}` +
    ` (${run.model.kind || "?"}), vidlabel ${run.vidlabel || "?"}. Report made ${data.generated}.`;

  const cards = [
    ["videos", totals.videos], ["ok", totals.ok], ["failed", totals.failed],
    ["hours of video", totals.hours.toFixed(2)], ["clips", totals.clips], ["shots", totals.shots],
    ["label segments", totals.segments], ["thumbnails", totals.thumbnails],
  ];
  document.getElementById("totals").replaceChildren(...cards.map(([name, value]) =>
    el("div", { class: name === "failed" && totals.failed ? "card bad" : "card", "data-total": name },
      el("div", { class: "value" }, String(value)), el("div", { class: "name" }, name))));

  overviewLabels(data);
  document.getElementById("durations-chart").setAttribute("src", data.charts.durations);
  fill(document.getElementById("codecs"), data.codecs.map(([codec, n]) =>
    el("tr", null, el("td", null, codec === null ? "unknown" : codec), el("td", { class: "num" }, n))));
  fill(document.getElementById("resolutions"), data.resolutions.map(([size, n]) =>
    el("tr", null, el("td", null, size === null ? "unknown" : size), el("td", { class: "num" }, n))));
  overviewFailures(data);
  overviewRun(run, data.missing_tables);
  new VideoFilter(list, data.palette).start();
}

function overviewLabels(data) {
  document.getElementById("labels-chart").setAttribute("src", data.charts.labels);
  const total = data.labels.reduce((sum, [, s]) => sum + s, 0) || 1;
  fill(document.getElementById("label-table"), data.labels.map(([label, s, videos]) => {
    const colour = data.palette[label];
    return el("tr", null,
      el("td", null, el("span", { class: "swatch", style: `background:${colour || NEUTRAL}` }), labelLink(label)),
      el("td", { class: "num" }, seconds(s)),
      el("td", { class: "num" }, `${(100 * s / total).toFixed(1)}%`),
      el("td", { class: "num" }, el("a", { href: `index.html#label=${encodeURIComponent(label)}` }, String(videos))));
  }));
}

function overviewFailures(data) {
  const box = document.getElementById("failure-groups");
  if (!data.failures.length) {
    box.replaceChildren(el("p", { class: "muted" }, "No file failed."));
    return;
  }
  box.replaceChildren(...data.failures.map(([stage, errorClass, members]) =>
    el("details", { class: "failure-group", "data-stage": stage, "data-error-class": errorClass },
      el("summary", null, `${stage} / ${errorClass}: ${members.length} file(s)`),
      el("ul", null, ...members.map(([id, uri, message]) =>
        el("li", null, el("a", { href: `video.html#${id}` }, uri), ": ", message))))));
}

function overviewRun(run, missing) {
  const facts = [
    ["run id", run.run_id], ["started", run.started], ["finished", run.finished],
    ["elapsed", run.elapsed_s === null || run.elapsed_s === undefined ? "" : seconds(run.elapsed_s)],
    ["model", run.model.name], ["model form", run.model.kind], ["model sha256", run.model.sha256],
    ["schema version", run.schema_version], ["vidlabel", run.vidlabel],
    ["thumbnails", run.thumbnails ? `every ${run.thumbnails.every_s} s within a shot` : "none"],
  ];
  for (const [name, value] of Object.entries(run.labelling)) facts.push([name, JSON.stringify(value)]);
  for (const [name, value] of Object.entries(run.counts)) facts.push([`count: ${name}`, JSON.stringify(value)]);
  if (missing.length) facts.push(["not in this result", missing.join(", ")]);
  document.getElementById("run-record").replaceChildren(...facts.flatMap(([name, value]) =>
    [el("dt", null, name), el("dd", null, value === null || value === undefined ? "" : String(value))]));
}

class VideoFilter {
  // Filters the whole list in memory on every change (plain loops: ~10 ms for 10,000 videos) and shows one page.
  constructor(list, palette) {
    this.labels = list.labels;
    this.videos = list.videos; // [id, uri, status, duration, [[label index, score]], thumbnail]
    this.lowerNames = this.videos.map((v) => v[1].toLowerCase());
    this.palette = palette;
    this.labelIndex = new Map(this.labels.map((label, i) => [label, i]));
    this.page = 0;
    this.inputs = {
      name: document.getElementById("filter-name"),
      label: document.getElementById("filter-label"),
      score: document.getElementById("filter-score"),
      status: document.getElementById("filter-status"),
    };
  }

  start() {
    document.getElementById("label-names").replaceChildren(...this.labels.map((l) => el("option", { value: l })));
    this.fromHash();
    for (const input of Object.values(this.inputs)) {
      input.addEventListener("input", () => { this.page = 0; this.toHash(); this.render(); });
    }
    window.addEventListener("hashchange", () => { this.fromHash(); this.render(); });
    this.render();
    performance.mark("vidlabel:list-ready"); // the list is shown and the filter answers (bench/report_scale.py)
  }

  fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    this.inputs.name.value = params.get("q") || "";
    this.inputs.label.value = params.get("label") || "";
    this.inputs.score.value = params.get("min") || "0";
    this.inputs.status.value = params.get("status") || "";
    this.page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);
  }

  toHash() {
    const params = new URLSearchParams();
    if (this.inputs.name.value) params.set("q", this.inputs.name.value);
    if (this.inputs.label.value) params.set("label", this.inputs.label.value);
    if (parseFloat(this.inputs.score.value) > 0) params.set("min", this.inputs.score.value);
    if (this.inputs.status.value) params.set("status", this.inputs.status.value);
    if (this.page) params.set("page", String(this.page));
    history.replaceState(null, "", "#" + params.toString());
  }

  wantedLabels() {
    // The label typed, if it is one; else every label whose name holds the text (any case); null: no label filter.
    const text = this.inputs.label.value;
    if (!text) return null;
    if (this.labelIndex.has(text)) return new Set([this.labelIndex.get(text)]);
    const lower = text.toLowerCase();
    return new Set(this.labels.flatMap((label, i) => (label.toLowerCase().includes(lower) ? [i] : [])));
  }

  matches() {
    const name = this.inputs.name.value.trim().toLowerCase();
    const wanted = this.wantedLabels();
    const minScore = parseFloat(this.inputs.score.value) || 0;
    const status = this.inputs.status.value;
    const found = [];
    for (let i = 0; i < this.videos.length; i++) {
      const video = this.videos[i];
      if (status && (status === "ok") !== (video[2] === "ok")) continue;
      if (name && !this.lowerNames[i].includes(name)) continue;
      if (wanted) {
        if (!video[4].some((pair) => wanted.has(pair[0]) && pair[1] >= minScore)) continue;
      } else if (minScore > 0 && !(video[4].length && video[4][0][1] >= minScore)) {
        continue;
      }
      found.push(video);
    }
    return found;
  }

  render() {
    const found = this.matches();
    const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    const shown = found.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);
    const wanted = this.wantedLabels();
    fill(document.getElementById("video-list"), shown.map((video) => this.row(video, wanted)));
    const count = document.getElementById("match-count");
    count.textContent = `${found.length} of ${this.videos.length} videos`;
    count.dataset.matches = String(found.length);
    const pager = document.getElementById("pager");
    const move = (to) => { this.page = to; this.toHash(); this.render(); };
    pager.replaceChildren(
      el("button", { type: "button", disabled: this.page === 0 }, "Previous"),
      el("span", null, `page ${this.page + 1} of ${pages}`),
      el("button", { type: "button", disabled: this.page >= pages - 1 }, "Next"));
    pager.children[0].addEventListener("click", () => move(this.page - 1));
    pager.children[2].addEventListener("click", () => move(this.page + 1));
  }

  row([id, uri, status, duration, labels, thumbnail], wanted) {
    // Its best three labels, those the filter asks for first.
    const picture = thumbnail ? el("img", { src: thumbnail, alt: "", loading: "lazy" }) : null;
    const first = wanted ? labels.filter((pair) => wanted.has(pair[0])).slice(0, 3) : [];
    const rest = labels.filter((pair) => !(wanted && wanted.has(pair[0]))).slice(0, 3 - first.length);
    const chips = [...first, ...rest].map(([index, score]) => {
      const name = this.labels[index];
      return el("span", { class: "chip" },
        el("span", { class: "swatch", style: `background:${this.palette[name] || NEUTRAL}` }),
        labelLink(name), ` ${score.toFixed(2)}`);
    });
    return el("tr", { "data-video-id": String(id) },
      el("td", { class: "thumb" }, picture),
      el("td", { class: "name" }, el("a", { href: `video.html#${id}`, title: uri }, baseName(uri))),
      el("td", { class: status === "ok" ? "status-ok" : "status-error" }, status === "ok" ? "ok" : "failed"),
      el("td", { class: "num" }, seconds(duration)),
      el("td", null, ...chips));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A video's page: video.html#ID loads data/v/ID.js, which calls VIDLABEL_SHOW_VIDEO(data).

function videoPage() {
  const id = location.hash.slice(1);
  window.addEventListener("hashchange", () => location.reload());
  if (!/^\d+$/.test(id)) {
    document.getElementById("video-name").textContent = "No video chosen";
    return;
  }
  window.VIDLABEL_SHOW_VIDEO = showVideo;
  const script = el("script", { src: `data/v/${id}.js` });
  script.addEventListener("error", () => {
    document.getElementById("video-name").textContent = `No video ${id} in this report`;
  });
  document.body.append(script);
}

function showVideo(video) {
  const facts = video.facts;
  document.title = `vidlabel report: ${baseName(facts.video_uri)}`;
  document.getElementById("video-name").textContent = baseName(facts.video_uri);
  document.getElementById("video-uri").textContent = facts.video_uri;
  for (const [name, target] of [["prev", video.prev], ["next", video.next]]) {
    const link = document.getElementById(name);
    if (target !== null) { link.setAttribute("href", `video.html#${target}`); link.hidden = false; }
  }
  if (video.error || facts.status !== "ok") {
    const box = document.getElementById("error-box");
    const error = video.error || { stage: "unknown", error_class: "unknown", message: facts.error || "" };
    box.replaceChildren(el("h2", null, "This file failed"),
      el("p", null, `${error.stage} / ${error.error_class}: `, el("span", { id: "error-message" }, error.message)));
    box.hidden = false;
  }
  drawTimeline(video);
  const thumbs = document.getElementById("thumbnails");
  thumbs.replaceChildren(...(video.thumbnails.length ? video.thumbnails.map(([time, path, w, h]) =>
    el("figure", { "data-time": String(time) }, el("img", { src: path, alt: `at ${clock(time)}`, width: w, height: h }),
      el("figcaption", null, clock(time)))) : [el("p", { class: "muted" }, "No thumbnails in this result.")]));
  fill(document.getElementById("top-labels"), video.top_k.map(([label, score]) =>
    el("tr", null, el("td", null, labelLink(label)), el("td", { class: "num" }, score.toFixed(3)))));
  fill(document.getElementById("segments"), video.segments.length ? video.segments.map(([label, start, end, confidence]) =>
    el("tr", null, el("td", null, labelLink(label)), el("td", { class: "num" }, clock(start)),
      el("td", { class: "num" }, clock(end)), el("td", { class: "num" }, confidence.toFixed(3))))
    : [el("tr", null, el("td", { colspan: 4, class: "muted" }, "No label scores at least --min_score anywhere."))]);
  const shown = [
    ["duration", seconds(facts.duration_s)], ["frame rate", facts.source_fps && `${facts.source_fps.toFixed(3)} fps`],
    ["size", facts.width && `${facts.width} x ${facts.height} (as displayed)`], ["rotation", facts.rotation],
    ["codec", facts.codec], ["pixel format", facts.pix_fmt], ["bit depth", facts.bit_depth],
    ["stream", facts.stream_index], ["frames", facts.num_frames], ["clips", facts.num_clips],
    ["shots", video.shots.length], ["file size", facts.file_size && `${(facts.file_size / 1e6).toFixed(2)} MB`],
    ["modified", facts.file_modified], ["model", facts.model], ["run", facts.run_id],
  ];
  document.getElementById("facts").replaceChildren(...shown.flatMap(([name, value]) =>
    [el("dt", null, name), el("dd", null, value === null || value === undefined ? "" : String(value))]));
}

function drawTimeline(video) {
  const duration = video.facts.duration_s || Math.max(0, ...video.clips.map((c) => c[1]));
  const box = document.getElementById("timeline");
  if (!duration) {
    box.replaceChildren(el("p", { class: "muted" }, "Nothing decoded: no timeline."));
    return;
  }
  const width = 1000, left = 90, lane = 22;
  const segmentLabels = [...new Set(video.segments.map((s) => s[0]))].slice(0, 6);
  const lanes = [["clips", video.clips.map(([s, e, label, score]) => [s, e, label, `${label} ${score.toFixed(2)}`])],
    ["shots", video.shots.map(([s, e, label, score], i) =>
      [s, e, label, `shot ${i + 1}` + (label ? `: ${label} ${score.toFixed(2)}` : "")])],
    ...segmentLabels.map((name) => [name, video.segments.filter((s) => s[0] === name).map(([label, s, e, c]) =>
      [s, e, label, `${label} ${c.toFixed(2)}`])])];
  const height = lanes.length * lane + 24;
  const x = (t) => left + (width - left) * Math.min(1, Math.max(0, t / duration));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "timeline" });
  lanes.forEach(([name, spans], row) => {
    const y = row * lane;
    const title = svgEl("text", { x: 0, y: y + 15, "font-size": 12, fill: "#444" });
    title.textContent = name.length > 14 ? name.slice(0, 13) + "…" : name;
    svg.append(title);
    svg.append(svgEl("rect", { x: left, y: y + 2, width: width - left, height: lane - 4, fill: "#f1f1f1" }));
    spans.forEach(([start, end, label, text], i) => {
      const colour = name === "shots" ? (i % 2 ? "#8a8a8a" : "#5f5f5f") : (video.palette[label] || NEUTRAL);
      const rect = svgEl("rect", { x: x(start), y: y + 2, width: Math.max(0.5, x(end) - x(start)), height: lane - 4,
        fill: colour, stroke: "#fff", "stroke-width": 0.5, class: `span-${name === "clips" || name === "shots" ? name : "segment"}` });
      const tip = svgEl("title");
      tip.textContent = `${clock(start)}-${clock(end)} ${text}`;
      rect.append(tip);
      svg.append(rect);
    });
  });
  const axis = lanes.length * lane + 16;
  const step = niceStep(duration / 8);
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const tick = svgEl("text", { x: x(t), y: axis, "font-size": 11, fill: "#666", "text-anchor": "middle" });
    tick.textContent = clock(t);
    svg.append(tick);
  }
  for (const [time] of video.thumbnails) {
    svg.append(svgEl("path", { d: `M${x(time)} ${lanes.length * lane} l-4 6 h8 z`, fill: "#2b6cb0", class: "thumb-mark" }));
  }
  box.replaceChildren(svg);
  const used = Object.entries(video.palette);
  document.getElementById("legend").replaceChildren(...used.map(([label, colour]) =>
    el("span", { class: "chip" }, el("span", { class: "swatch", style: `background:${colour}` }), labelLink(label))),
    el("span", { class: "chip" }, el("span", { class: "swatch", style: `background:${NEUTRAL}` }), "other labels"));
}

function niceStep(raw) {
  for (const step of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (step >= raw) return step;
  return 3600 * Math.ceil(raw / 3600);
}

if (document.body.dataset.page === "overview") overviewPage();
else videoPage();
