// Blueplane dashboard: plain JavaScript, charts drawn as SVG here (no library, no request to any
// other origin). Every number comes from /api/v1 (the same JSON as `bp-query --json`) or the
// live WebSockets; this file only formats and draws. Each shown number also carries its raw
// value in data-value, which the browser test compares with the API.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const state = { page: 1, limit: 15, session: null, sessionSocket: null, refreshTimer: null };

// -- small helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k === "cls") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k === "cls") node.setAttribute("class", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

const fmt = {
  usd(v) {
    if (v === null || v === undefined) return "—";
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  },
  int(v) { return v === null || v === undefined ? "—" : Math.round(v).toLocaleString("en-US"); },
  pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; },
  compact(v) {
    if (v === null || v === undefined) return "—";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v));
  },
  hours(v) { return v === null || v === undefined ? "—" : v.toFixed(1) + " h"; },
  time(iso) { return iso ? iso.slice(11, 19) : ""; },
  minutes(m) { return m === null || m === undefined ? "—" : Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m"; },
};

// A number shown with its raw value attached (data-key names it for the tests).
function num(key, value, format) {
  return el("span", { "data-key": key, "data-value": value === null || value === undefined ? "" : String(value), text: format(value) });
}

async function api(path) {
  const response = await fetch("/api/v1" + path, { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || String(response.status));
  return body;
}

function showError(err) {
  const box = document.getElementById("error");
  if (!err) { box.hidden = true; return; }
  box.hidden = false;
  box.textContent = String(err.message || err);
}

function empty(node, text) { node.replaceChildren(el("p", { cls: "empty", text })); }

// -- charts (SVG) --------------------------------------------------------------------------------

// Vertical bars: rows = [{label, value, alt?}] (alt: a second, darker part inside the bar).
function barChart(node, rows, format, key) {
  if (!rows.length) return empty(node, "nothing in this period");
  const W = Math.max(300, node.clientWidth || 560), H = 180, L = 46, B = 22, T = 8;
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const bw = Math.min((W - L - 4) / rows.length, 48);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-key": key });
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    chart.append(svg("line", { x1: L, x2: W, y1: y, y2: y, cls: "gridline" }));
    chart.append(svg("text", { x: L - 4, y: y + 3, "text-anchor": "end", text: format(max * i / 4) }));
  }
  const every = Math.ceil(rows.length / 8);
  rows.forEach((r, i) => {
    const h = (H - T - B) * (r.value / max);
    const x = L + i * bw + bw * 0.12;
    const bar = svg("rect", { x, y: H - B - h, width: bw * 0.76, height: Math.max(h, 0), cls: "bar-fill", "data-label": r.label, "data-value": r.value },
      svg("title", { text: `${r.label}: ${format(r.value)}` }));
    chart.append(bar);
    if (r.alt) {
      const ha = (H - T - B) * (r.alt / max);
      chart.append(svg("rect", { x, y: H - B - ha, width: bw * 0.76, height: ha, cls: "bar-fill alt" }));
    }
    if (i % every === 0) chart.append(svg("text", { x: x + bw * 0.38, y: H - 6, "text-anchor": "middle", text: r.label }));
  });
  node.replaceChildren(chart);
}

// Horizontal bars, for names (models, projects, file types).
function hbarChart(node, rows, format, key) {
  if (!rows.length) return empty(node, "nothing in this period");
  const W = Math.max(300, node.clientWidth || 560), row = 22, L = Math.min(170, W * 0.4), H = rows.length * row + 4;
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-key": key });
  rows.forEach((r, i) => {
    const y = i * row + 2;
    const w = (W - L - 80) * (r.value / max);
    const fit = Math.max(6, Math.floor((L - 8) / 5.6));  // characters of ~5.6 px at 10 px
    chart.append(svg("text", { x: L - 6, y: y + 14, "text-anchor": "end", text: r.label.length > fit ? r.label.slice(0, fit - 1) + "…" : r.label },
      svg("title", { text: r.label })));
    chart.append(svg("rect", { x: L, y: y + 3, width: Math.max(w, 1), height: row - 8, cls: "bar-fill", "data-label": r.label, "data-value": r.value },
      svg("title", { text: `${r.label}: ${format(r.value)}` })));
    chart.append(svg("text", { x: L + w + 6, y: y + 14, cls: "value", text: format(r.value) }));
  });
  node.replaceChildren(chart);
}

function heatmap(node, data) {
  if (!data.tools.length) return empty(node, "no tool calls in this period");
  const cell = 20, L = 110, T = 16;
  const W = L + 24 * cell + 4, H = T + data.tools.length * cell + 4;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, role: "img", "data-key": "heatmap", cls: "fixed" });
  for (let h = 0; h < 24; h += 3) chart.append(svg("text", { x: L + h * cell + cell / 2, y: 11, "text-anchor": "middle", cls: "heat-label", text: String(h).padStart(2, "0") }));
  const max = data.max_calls || 1;
  data.tools.forEach((t, i) => {
    const y = T + i * cell;
    chart.append(svg("text", { x: L - 6, y: y + 14, "text-anchor": "end", text: t.tool.length > 16 ? t.tool.slice(0, 15) + "…" : t.tool }));
    t.calls_by_hour.forEach((calls, h) => {
      const rect = svg("rect", { x: L + h * cell + 1, y: y + 1, width: cell - 2, height: cell - 2, rx: 3, "data-tool": t.tool, "data-hour": h, "data-value": calls },
        svg("title", { text: `${t.tool} at ${String(h).padStart(2, "0")}:00 UTC: ${calls} calls, ${t.errors_by_hour[h]} errors` }));
      const mix = calls ? 0.15 + 0.85 * (calls / max) : 0;
      rect.style.setProperty("fill", calls ? "var(--heat1)" : "var(--heat0)");
      rect.style.setProperty("fill-opacity", calls ? String(mix) : "1");
      chart.append(rect);
    });
  });
  node.replaceChildren(chart);
}

function donut(share) {
  const r = 34, c = 2 * Math.PI * r;
  const chart = svg("svg", { viewBox: "0 0 90 90", width: 90, height: 90, role: "img" });
  chart.append(svg("circle", { cx: 45, cy: 45, r, fill: "none", "stroke-width": 12, cls: "donut-track" }));
  const arc = svg("circle", { cx: 45, cy: 45, r, fill: "none", "stroke-width": 12, cls: "donut-fill", transform: "rotate(-90 45 45)", "stroke-dasharray": `${c * (share || 0)} ${c}` });
  chart.append(arc);
  chart.append(svg("text", { x: 45, y: 49, "text-anchor": "middle", cls: "value", text: fmt.pct(share) }));
  return chart;
}

// -- views ---------------------------------------------------------------------------------------

const CARD_TITLES = { today: "Today", "7d": "Last 7 days", "30d": "Last 30 days" };

async function loadOverview() {
  const data = await api("/metrics/overview");
  const cards = data.cards.map((c) => {
    const k = (name) => `${c.window}.${name}`;
    const row = (label, key, value, format) => [el("dt", { text: label }), el("dd", {}, num(k(key), value, format))];
    return el("article", { cls: "card", "data-window": c.window },
      el("h3", { text: CARD_TITLES[c.window] }),
      el("div", { cls: "cost-pair" },
        el("div", {}, el("div", { cls: "big" }, num(k("cost_usd"), c.cost_usd, fmt.usd)), el("div", { cls: "label", text: c.unpriced_requests ? `computed (+${c.unpriced_requests} unpriced)` : "computed" })),
        el("div", {}, el("div", { cls: "big" }, num(k("cost_official_usd"), c.cost_official_usd, fmt.usd)), el("div", { cls: "label", text: "official (client-reported)" }))),
      el("dl", {},
        ...row("tokens", "tokens", c.tokens, fmt.compact),
        ...row("sessions", "sessions", c.sessions, fmt.int),
        ...row("prompts", "prompts", c.prompts, fmt.int),
        ...row("edit acceptance", "acceptance_rate", c.acceptance_rate, fmt.pct),
        ...row("tool error rate", "tool_error_rate", c.tool_error_rate, fmt.pct),
        ...row("API error rate", "api_error_rate", c.api_error_rate, fmt.pct),
        ...row("active hours", "active_hours", c.active_hours, fmt.hours)));
  });
  document.getElementById("cards").replaceChildren(...cards);
}

function renderBlock(block) {
  const body = document.getElementById("block-body");
  if (!block) { body.replaceChildren(el("p", { cls: "empty", "data-key": "block.none", text: "no active block: nothing was requested in the last five hours" })); return; }
  const item = (label, node) => el("div", {}, el("div", { cls: "big" }, node), el("div", { cls: "label", text: label }));
  const elapsed = 300 - (block.remaining_minutes || 0);
  const burn = block.burn_rate ? block.burn_rate.cost_usd_per_hour : null;
  const W = 560;
  const bar = svg("svg", { viewBox: `0 0 ${W} 14`, role: "img" },
    svg("rect", { x: 0, y: 2, width: W, height: 10, rx: 5, cls: "bar-fill dim" }),
    svg("rect", { x: 0, y: 2, width: W * Math.min(1, elapsed / 300), height: 10, rx: 5, cls: "bar-fill" }));
  body.replaceChildren(
    item(`cost ${block.start.slice(11, 16)}–${block.end.slice(11, 16)} UTC`, num("block.cost_usd", block.cost_usd, fmt.usd)),
    item("burn rate per hour", num("block.burn", burn, fmt.usd)),
    item("projected at block end", num("block.projection", block.projection ? block.projection.cost_usd : null, fmt.usd)),
    item("time left", num("block.remaining", Math.round(block.remaining_minutes), fmt.minutes)),
    item("tokens", num("block.tokens", block.total_tokens, fmt.compact)),
    item("requests", num("block.requests", block.requests, fmt.int)),
    el("div", { cls: "bar" }, bar));
}

function renderLive(message) {
  if (message.available === false) {
    document.getElementById("live-today").replaceChildren(el("span", { cls: "empty", text: "live counters unavailable: " + message.error }));
    return;
  }
  const t = message.today;
  const item = (label, node) => el("span", {}, el("span", { cls: "label", text: label + " " }), el("b", {}, node));
  document.getElementById("live-today").replaceChildren(
    item("today live:", num("live.cost_usd", t.cost_usd, fmt.usd)),
    item("requests", num("live.requests", t.requests, fmt.int)),
    item("tokens", num("live.tokens", t.input_tokens + t.output_tokens + t.cache_write_tokens + t.cache_read_tokens, fmt.compact)),
    item("tool calls", num("live.tool_calls", t.tool_calls, fmt.int)),
    item("events", num("live.events", t.events, fmt.int)),
    item("at", el("span", { text: fmt.time(message.at) })));
  renderBlock(message.block);
}

async function loadCharts() {
  const [byDay, byModel, byProject] = await Promise.all([
    api("/costs?by=day&since=30d"), api("/costs?by=model&since=30d"), api("/costs?by=project&since=30d")]);
  barChart(document.getElementById("chart-cost-day"), byDay.rows.map((r) => ({ label: r.period.slice(5), value: r.cost_usd })), fmt.usd, "cost-day");
  barChart(document.getElementById("chart-tokens-day"), byDay.rows.map((r) => ({ label: r.period.slice(5), value: r.total_tokens })), fmt.compact, "tokens-day");
  hbarChart(document.getElementById("chart-cost-model"), byModel.rows.map((r) => ({ label: r.period, value: r.cost_usd })), fmt.usd, "cost-model");
  // the ten most expensive projects, the rest summed in one bar
  const projects = byProject.rows.slice(0, 10).map((r) => ({ label: r.label || r.period.slice(0, 12), value: r.cost_usd }));
  const rest = byProject.rows.slice(10);
  if (rest.length) projects.push({ label: `${rest.length} others`, value: rest.reduce((a, r) => a + r.cost_usd, 0) });
  hbarChart(document.getElementById("chart-cost-project"), projects, fmt.usd, "cost-project");
}

async function loadSessions() {
  const data = await api(`/sessions?limit=${state.limit}&page=${state.page}`);
  const tbody = document.querySelector("#sessions-table tbody");
  const rows = data.sessions.map((s) => {
    const tokens = s.input_tokens + s.output_tokens + s.cache_write_tokens + s.cache_read_tokens;
    const tr = el("tr", { "data-session": s.session_id, onclick: () => openSession(s.session_id) },
      el("td", { text: (s.started_at || "").slice(0, 16).replace("T", " ") }),
      el("td", { text: s.platform }),
      el("td", { text: s.model || "—" }),
      el("td", { cls: "n" }, num("s.prompts", s.prompts, fmt.int)),
      el("td", { cls: "n" }, num("s.tool_calls", s.tool_calls, fmt.int)),
      el("td", { cls: "n" }, num("s.errors", s.tool_errors + s.api_errors, fmt.int)),
      el("td", { cls: "n" }, num("s.tokens", tokens, fmt.compact)),
      el("td", { cls: "n" }, num("s.cost_usd", s.cost_usd, fmt.usd)),
      el("td", { cls: "n" }, num("s.acceptance", s.acceptance_rate, fmt.pct)));
    if (s.session_id === state.session) tr.classList.add("selected");
    return tr;
  });
  tbody.replaceChildren(...rows);
  const pages = Math.max(1, Math.ceil(data.total / state.limit));
  document.getElementById("sessions-total").replaceChildren(num("sessions.total", data.total, (v) => `${fmt.int(v)} in all`));
  document.getElementById("page").textContent = `page ${state.page} of ${pages}`;
  document.getElementById("prev").disabled = state.page <= 1;
  document.getElementById("next").disabled = state.page >= pages;
}

function timelineRow(i) {
  let tag = i.item, text = "";
  if (i.item === "turn") {
    tag = i.kind;
    const parts = [];
    if (i.agent_type) parts.push(i.agent_type);
    if (i.requests) parts.push(`${i.requests} request${i.requests > 1 ? "s" : ""}`);
    if (i.tool_calls) parts.push(`${i.tool_calls} tool calls`);
    if (i.tokens) parts.push(`${fmt.compact(i.tokens)} tokens`);
    if (i.cost_usd !== null && i.cost_usd !== undefined) parts.push(fmt.usd(i.cost_usd));
    if (i.tool_errors) parts.push(`${i.tool_errors} errors`);
    if (i.kind === "compaction" && i.pre_tokens) parts.push(`${fmt.compact(i.pre_tokens)} → ${fmt.compact(i.post_tokens)} tokens`);
    text = parts.join(" · ");
  } else if (i.item === "tool_call") {
    if (i.ok === false) tag = "error";
    text = `${i.tool_name || "?"}${i.program ? " (" + i.program + ")" : ""}${i.duration_ms !== null && i.duration_ms !== undefined ? " · " + fmt.int(i.duration_ms) + " ms" : ""}${i.ok === false ? " · failed" + (i.error_type ? ": " + i.error_type : "") : ""}`;
  } else if (i.item === "edit") {
    text = `${i.tool_name || "edit"} ${i.file_extension || ""} +${i.lines_added || 0} −${i.lines_removed || 0} · ${i.decision || "undecided"}`;
  }
  return el("li", { "data-item": i.item, "data-kind": tag },
    el("span", { cls: "t", text: fmt.time(i.at) }), el("span", {}, el("span", { cls: "tag " + tag, text: tag.replace("_", " ") })), el("span", { text }));
}

function renderTimeline(data) {
  if (data.error) { showError(new Error(data.error)); return; }
  const s = data.session;
  document.getElementById("timeline").hidden = false;
  document.getElementById("timeline-id").textContent = s.session_id.slice(0, 13);
  document.getElementById("timeline-summary").replaceChildren(
    `${s.platform} · ${s.model || "?"} · `, num("t.prompts", s.prompts, (v) => `${fmt.int(v)} prompts`),
    " · ", num("t.cost", s.cost_usd, fmt.usd), ` · ${data.total} items`);
  document.getElementById("timeline-list").replaceChildren(...data.items.map(timelineRow));
  // the strip: every item as a mark along the session's time
  const strip = document.getElementById("timeline-strip");
  const times = data.items.map((i) => Date.parse(i.at)).filter((t) => !Number.isNaN(t));
  if (!times.length) { strip.replaceChildren(); return; }
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1000), W = 560;
  const chart = svg("svg", { viewBox: `0 0 ${W} 24`, role: "img" });
  for (const i of data.items) {
    const kind = i.item === "turn" ? i.kind : i.item === "tool_call" && i.ok === false ? "error" : i.item;
    const x = 4 + (W - 8) * ((Date.parse(i.at) - t0) / (t1 - t0));
    chart.append(svg("rect", { x: x - 1.5, y: i.item === "turn" ? 2 : 8, width: 3, height: i.item === "turn" ? 20 : 10, cls: "mark-" + kind }));
  }
  strip.replaceChildren(chart);
}

async function openSession(id) {
  state.session = id;
  for (const tr of document.querySelectorAll("#sessions-table tbody tr")) tr.classList.toggle("selected", tr.dataset.session === id);
  renderTimeline(await api(`/sessions/${encodeURIComponent(id)}/timeline`));
  if (state.sessionSocket) state.sessionSocket.close();
  state.sessionSocket = live(`/ws/sessions/${encodeURIComponent(id)}`, (m) => { if (m.kind === "timeline" && state.session === id) renderTimeline(m); });
  document.getElementById("timeline").scrollIntoView({ block: "start" });
}

async function loadTools() {
  const [heat, tools] = await Promise.all([api("/tools/heatmap?since=30d"), api("/tools?since=30d")]);
  heatmap(document.getElementById("heatmap"), heat);
  document.querySelector("#tools-table tbody").replaceChildren(...tools.tools.map((t) => el("tr", { "data-tool": t.tool },
    el("td", { text: t.tool }), el("td", { cls: "n" }, num("tool.calls", t.calls, fmt.int)), el("td", { cls: "n" }, num("tool.errors", t.errors, fmt.int)),
    el("td", { cls: "n" }, num("tool.error_rate", t.error_rate, fmt.pct)), el("td", { cls: "n", text: fmt.int(t.p50_ms) }), el("td", { cls: "n", text: fmt.int(t.p95_ms) }))));
}

async function loadCommits() {
  const c = await api("/commits?since=30d");
  const item = (label, node) => el("div", {}, el("div", { cls: "big" }, node), el("div", { cls: "label", text: label }));
  document.getElementById("commits-summary").replaceChildren(
    donut(c.assisted_share),
    item("commits", num("commits.commits", c.commits, fmt.int)),
    item("agent-assisted", num("commits.agent_assisted", c.agent_assisted, fmt.int)),
    item("share", num("commits.assisted_share", c.assisted_share, fmt.pct)),
    item("lines added (assisted)", num("commits.assisted_lines_added", c.assisted_lines_added, fmt.int)));
  barChart(document.getElementById("chart-commits"), c.by_day.map((d) => ({ label: d.day.slice(5), value: d.commits, alt: d.agent_assisted })), fmt.int, "commits-day");
}

async function loadInsights() {
  const [data, acceptance] = await Promise.all([api("/insights?limit=20"), api("/acceptance?since=30d")]);
  document.getElementById("insights-total").replaceChildren(num("insights.total", data.total, (v) => `${fmt.int(v)} found`));
  const list = document.getElementById("insights-list");
  if (!data.insights.length) empty(list, "no insights yet: the insights worker looks every 30 seconds");
  else list.replaceChildren(...data.insights.map((i) => el("li", { "data-kind": i.kind },
    el("span", { cls: "sev " + i.severity, text: i.severity }), el("b", { text: i.title }),
    i.heuristic ? el("span", { cls: "why", text: " (heuristic)" }) : null,
    i.suggestion ? el("div", { cls: "why", text: i.suggestion }) : null)));
  hbarChart(document.getElementById("chart-acceptance"), acceptance.by_extension.filter((r) => r.acceptance_rate !== null).map((r) => ({ label: `${r.key} (${r.accepted}/${r.accepted + r.rejected})`, value: r.acceptance_rate })), fmt.pct, "acceptance");
}

function addEvent(e) {
  const list = document.getElementById("events");
  const row = el("li", { cls: "fresh", "data-type": e.type, "data-id": e.id },
    el("span", { text: fmt.time(e.stored_at) }), el("span", { text: e.type }), el("span", { cls: "hide-s", text: e.platform || "" }),
    el("span", { cls: "hide-s mono", text: (e.session_id || "").slice(0, 13) + (e.tool ? " · " + e.tool : "") }),
    el("span", { text: e.tokens ? fmt.compact(e.tokens) + " tok" : "" }));
  list.prepend(row);
  setTimeout(() => row.classList.remove("fresh"), 1500);
  while (list.children.length > 40) list.lastChild.remove();
}

// -- live ------------------------------------------------------------------------------------------

function live(path, onMessage) {
  let socket = null, closed = false, retry = 500;
  const open = () => {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`);
    socket.onopen = () => { retry = 500; setLive(true); };
    socket.onmessage = (m) => onMessage(JSON.parse(m.data));
    socket.onclose = () => { setLive(false); if (!closed) setTimeout(open, retry = Math.min(retry * 2, 10000)); };
    socket.onerror = () => {};
  };
  open();
  return { close() { closed = true; if (socket) socket.close(); } };
}

function setLive(on) {
  const badge = document.getElementById("live-state");
  badge.classList.toggle("on", on);
  badge.classList.toggle("off", !on);
  badge.textContent = on ? "live" : "offline";
}

// New events change the stored numbers: reload the views a moment later (the workers fold
// events within a second), at most once per 2 s.
function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    state.refreshTimer = null;
    await refresh();
  }, 2000);
}

async function refresh() {
  try {
    await Promise.all([loadOverview(), loadCharts(), loadSessions(), loadTools(), loadCommits(), loadInsights()]);
    showError(null);
  } catch (err) {
    showError(err);
  }
}

function setupTheme() {
  const saved = localStorage.getItem("bp-theme");
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    document.documentElement.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("bp-theme", document.documentElement.dataset.theme);
  });
}

async function main() {
  setupTheme();
  document.getElementById("prev").addEventListener("click", () => { state.page -= 1; loadSessions().catch(showError); });
  document.getElementById("next").addEventListener("click", () => { state.page += 1; loadSessions().catch(showError); });
  await refresh();
  try { renderLive({ available: true, ...(await api("/metrics/live")) }); } catch (err) { renderLive({ available: false, error: err.message }); }
  live("/ws/metrics", (m) => { if (m.kind === "metrics") renderLive(m); });
  live("/ws/events", (m) => { if (m.kind === "event") { addEvent(m); scheduleRefresh(); } });
  document.body.dataset.ready = "true";
}

main();
