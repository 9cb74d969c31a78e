// Peregrine console: one small script over the JSON API (/api/v1/...). Every value from an
// alert, a rule or an event is put in the page with textContent or an attribute, never parsed
// as HTML; the server's Content-Security-Policy allows no inline script.
"use strict";

const PRIOS = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
let session = null;

// h("tag.class", {attr: v, onclick: f}, child, ...): an element; strings become text nodes.
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

async function api(path, opts) {
  opts = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
  if (opts.method && opts.method !== "GET" && session && session.csrf_token) {
    opts.headers["X-CSRF-Token"] = session.csrf_token;
  }
  const r = await fetch(path, opts);
  if (r.status === 401 && !location.pathname.startsWith("/console/login")) {
    location.assign("/console/login");
    throw new ApiError(401, null);
  }
  const ct = r.headers.get("content-type") || "";
  const body = ct.includes("json") ? await r.json() : null;
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

function prio(name) {
  const i = PRIOS.findIndex((p) => p.toLowerCase() === String(name || "").toLowerCase());
  return h("span.prio.p" + (i < 0 ? 7 : i), { text: name || "?" });
}

function fmtTime(ns) {
  if (!ns) return "—";
  return new Date(Number(ns) / 1e6).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fmtNum(n, digits) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits });
}

const readOnly = () => !session || session.role !== "admin";
const main = () => document.getElementById("main");

function setMain(...children) {
  const m = main();
  m.replaceChildren(...children);
}

function errorBox(e) {
  return h("p.error", { text: "Error: " + (e && e.message ? e.message : String(e)) });
}

// ---- overview ------------------------------------------------------------------------------

let overviewTimer = null;

async function pageOverview() {
  const params = new URLSearchParams(location.search);
  const win = params.get("window") === "1h" ? "1h" : "24h";
  const select = h("select", { id: "window", onchange: (e) => {
    history.replaceState(null, "", "/console/?window=" + e.target.value);
    pageOverview();
  } }, h("option", { value: "1h", selected: win === "1h" }, "last hour"),
     h("option", { value: "24h", selected: win === "24h" }, "last 24 hours"));
  const body = h("div", {}, h("p.muted", { text: "Loading…" }));
  setMain(h("h1", {}, "Overview ", select), body);
  const draw = async () => {
    let o;
    try {
      o = await api("/api/v1/overview?window=" + win);
    } catch (e) {
      body.replaceChildren(errorBox(e));
      return;
    }
    const trend = o.trend_pct === null ? "no alerts in the previous period"
      : (o.trend_pct >= 0 ? "+" : "") + fmtNum(o.trend_pct, 1) + " % vs previous " + win;
    const card = (label, value, id) => h("div.card", { id }, h("div.value", { text: value }), h("div.label", { text: label }));
    const cards = h("div.cards", {},
      card("alerts, " + trend, fmtNum(o.total), "ov-total"),
      card("events/s", o.events_per_s === undefined ? "n/a" : (o.events_per_s === null ? "measuring…" : fmtNum(o.events_per_s, 1)), "ov-eps"),
      card("events dropped", o.drops_total === undefined ? "n/a" : fmtNum(o.drops_total), "ov-drops"),
      card("time to detect p50", o.ttd_p50_ms === undefined || o.ttd_p50_ms === null ? "—" : fmtNum(o.ttd_p50_ms, 2) + " ms", "ov-p50"),
      card("time to detect p95", o.ttd_p95_ms === undefined || o.ttd_p95_ms === null ? "—" : fmtNum(o.ttd_p95_ms, 2) + " ms", "ov-p95"));
    const top = h("table", { id: "top-rules" }, h("tr", {}, h("th", {}, "Rule"), h("th", {}, "Alerts")),
      o.top_rules.map((r) => h("tr", {},
        h("td", {}, h("a", { href: "/console/alerts?rule=" + encodeURIComponent(r.rule), text: r.rule })),
        h("td.num", { text: fmtNum(r.alerts) }))));
    body.replaceChildren(cards, h("h2", {}, "Alerts over time by priority"), chart(o),
      h("h2", {}, "Top rules"), o.top_rules.length ? top : h("p.muted", { text: "No alerts in this window." }));
    if (o.events_per_s === null) setTimeout(draw, 1500);
  };
  await draw();
  clearInterval(overviewTimer);
  overviewTimer = setInterval(() => { if (document.getElementById("window")) draw(); else clearInterval(overviewTimer); }, 10000);
}

// A stacked bar chart: one bar per bucket, one segment per priority (most severe at the bottom).
function chart(o) {
  const W = 900, H = 180, left = 40, bottom = 18;
  const n = o.buckets.length;
  const totals = o.buckets.map((b) => b.counts.reduce((a, c) => a + c, 0));
  const max = Math.max(1, ...totals);
  const bw = (W - left) / n;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H + bottom}`, width: "100%", role: "img", id: "chart" });
  root.append(svg("text", { x: 0, y: 10 }, fmtNum(max)), svg("text", { x: 0, y: H }, "0"));
  o.buckets.forEach((b, i) => {
    let y = H;
    b.counts.forEach((c, sev) => {
      if (!c) return;
      const hgt = (c / max) * (H - 12);
      y -= hgt;
      const r = svg("rect", { x: left + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, class: "p" + sev });
      r.append(svg("title", {}, `${fmtTime(b.t_ns)}: ${c} ${PRIOS[sev]}`));
      root.append(r);
    });
    if (i % Math.ceil(n / 8) === 0) {
      root.append(svg("text", { x: left + i * bw, y: H + 14 }, fmtTime(b.t_ns).slice(11, 16)));
    }
  });
  const legend = h("div.legend", {}, PRIOS.map((p, i) => h("span", {}, h("span.prio.p" + i, { text: "\u00a0" }), " " + p)));
  return h("div.card", {}, root, legend);
}

// ---- alerts --------------------------------------------------------------------------------

const FILTERS = [["rule", "Rule"], ["priority", "At least"], ["source", "Source"], ["host", "Host"],
  ["container", "Container"], ["namespace", "Namespace"], ["q", "Text"], ["since", "Since"]];
let stream = null;

function alertRow(a, fresh) {
  return h("tr" + (fresh ? ".new" : ""), { "data-id": a.id, "data-rule": a.rule },
    h("td.mono", { text: fmtTime(a.time_ns) }),
    h("td", {}, prio(a.priority)),
    h("td", {}, h("a", { href: "/console/alerts/" + encodeURIComponent(a.id), text: a.rule })),
    h("td", { text: a.hostname }),
    h("td", { text: a.container_name || a.container_id || "host" }),
    h("td", { text: a.namespace || "" }),
    h("td", { text: a.status }),
    h("td.mono", { text: a.output }));
}

function alertTable(rows, id) {
  return h("table", { id }, h("tr", {}, ["Time", "Priority", "Rule", "Host", "Container", "Namespace", "Status", "Output"].map((t) => h("th", { text: t }))),
    rows.map((a) => alertRow(a, false)));
}

async function pageAlerts() {
  const params = new URLSearchParams(location.search);
  const form = h("form.filters", { id: "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k] of FILTERS) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    history.replaceState(null, "", "/console/alerts" + (q.toString() ? "?" + q : ""));
    pageAlerts();
  } }, FILTERS.map(([k, label]) => h("label", {}, label, k === "priority"
      ? h("select", { name: k }, h("option", { value: "" }, "any"), PRIOS.map((p) => h("option", { value: p.toLowerCase(), selected: params.get(k) === p.toLowerCase() }, p)))
      : h("input", { name: k, value: params.get(k) || "", placeholder: k === "since" ? "1h, RFC 3339" : "", size: k === "q" ? 18 : 12 }))),
    h("button.action", { type: "submit" }, "Filter"));
  const status = h("span.status", { id: "live-status", text: "connecting…" });
  const holder = h("div", {}, h("p.muted", { text: "Loading…" }));
  setMain(h("h1", {}, "Alerts ", status), form, holder);
  const filtered = [...params.keys()].length > 0;
  const load = async () => {
    try {
      const r = await api("/api/v1/alerts?" + params.toString());
      holder.replaceChildren(alertTable(r.alerts, "queue"));
    } catch (e) {
      holder.replaceChildren(errorBox(e));
    }
  };
  await load();
  if (stream) stream.close();
  stream = new EventSource("/api/v1/alerts/stream");
  let reload = null;
  // The server ends each stream after its request limit (30 s) and drops a client that falls
  // behind; EventSource reconnects, and the list is read again for what came meanwhile.
  let opened = false;
  stream.addEventListener("open", () => {
    status.textContent = "live";
    if (opened) load();
    opened = true;
  });
  stream.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  stream.addEventListener("alert", (ev) => {
    const table = document.getElementById("queue");
    if (!table) { stream.close(); return; }
    if (filtered) {
      // The server applies the filters: ask again, at most every half second.
      clearTimeout(reload);
      reload = setTimeout(load, 500);
      return;
    }
    const a = JSON.parse(ev.data);
    const head = table.querySelector("tr");
    head.after(alertRow(a, true));
    while (table.rows.length > 501) table.deleteRow(-1);
  });
}

function kv(pairs, id) {
  return h("table", { id }, pairs.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td.mono", { text: v === null || v === undefined ? "" : (typeof v === "object" ? JSON.stringify(v) : String(v)) }))));
}

// The ancestry as nested lists, the oldest ancestor at the top.
function tree(node) {
  if (!node) return h("p.muted", { text: "No process ancestry was recorded." });
  const item = (n) => h("li", {},
    h("span.node" + (n.alert ? ".alerting" : ""), { "data-exe": n.exe },
      h("b", { text: n.exe }), " ", h("span.muted", { text: `pid ${n.pid} · uid ${n.uid}${n.user ? " (" + n.user + ")" : ""} · started ${fmtTime(n.start_ns)}` }),
      h("div.mono", { text: n.cmdline })),
    (n.children || []).length ? h("ul", {}, n.children.map(item)) : null);
  return h("ul.tree", { id: "process-tree" }, item(node));
}

async function pageDetail(id) {
  setMain(h("p.muted", { text: "Loading…" }));
  let a;
  try {
    a = await api("/api/v1/alerts/" + encodeURIComponent(id));
  } catch (e) {
    setMain(h("h1", {}, "Alert"), errorBox(e));
    return;
  }
  const note = h("p.status", { id: "action-status" });
  const act = async (label, fn) => {
    note.textContent = label + "…";
    try {
      await fn();
      note.textContent = label + ": done";
    } catch (e) {
      note.textContent = label + ": " + e.message;
    }
  };
  const minutes = h("select", { id: "silence-minutes" }, [15, 60, 240, 1440].map((m) => h("option", { value: m }, m < 60 ? m + " min" : m / 60 + " h")));
  const ro = readOnly();
  const title = ro ? "read-only: not allowed" : null;
  const buttons = h("div", { id: "actions" },
    h("button.action", { id: "ack", disabled: ro, title, onclick: () => act("Acknowledge", async () => {
      const r = await api(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: "POST" });
      document.getElementById("status-value").textContent = r.status;
    }) }, "Acknowledge"),
    h("button.action", { id: "resolve", disabled: ro, title, onclick: () => act("Resolve", async () => {
      const r = await api(`/api/v1/alerts/${encodeURIComponent(id)}/resolve`, { method: "POST" });
      document.getElementById("status-value").textContent = r.status;
    }) }, "Resolve"),
    h("button.action", { id: "silence", disabled: ro, title, onclick: () => act("Silence rule", async () => {
      const s = await api("/api/v1/silences", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ matchers: ["rule=" + a.rule], duration_seconds: Number(minutes.value) * 60,
          comment: "from the console, alert " + a.id, created_by: session ? session.user : "console" }),
      });
      note.dataset.silence = s.id || "";
    }) }, "Silence this rule for"), " ", minutes, note);
  const c = a.container;
  const fields = (a.alert && a.alert.output_fields) || {};
  const labels = (l) => (l || []).map(([k, v]) => [k, v]);
  setMain(
    h("h1", {}, prio(a.priority), " ", a.rule),
    h("pre", { id: "output", text: a.output }),
    buttons,
    h("div.grid2", {},
      h("div", {},
        h("h2", {}, "Alert"),
        kv([["id", a.id], ["time", fmtTime(a.time_ns)], ["source", a.source], ["host", a.hostname],
          ["tags", (a.tags || []).join(", ")], ["status", a.status], ["status by", a.status_by || ""]], "alert-facts"),
        h("h2", {}, "Fields"),
        kv(Object.entries(fields), "fields")),
      h("div", {},
        h("h2", {}, "Process tree"), tree(a.process_tree),
        h("h2", {}, "Container"),
        c ? kv([["id", c.id], ["name", c.name], ["image", c.image], ...labels(c.labels).map(([k, v]) => ["label " + k, v]),
          ...(c.pod ? [["pod", c.pod.name], ["namespace", c.pod.namespace], ...labels(c.pod.labels).map(([k, v]) => ["pod label " + k, v])] : [])], "container")
          : h("p.muted", { text: "On the host (no container)." }),
        h("h2", {}, "Rule"),
        a.rule_info ? h("div", {}, h("p", { text: a.rule_info.description }), h("pre", { id: "condition", text: a.rule_info.condition }))
          : h("p.muted", { text: "The rule is no longer loaded." }))),
    h("h2", {}, "Response actions"),
    (a.responses || []).length ? kv(a.responses.map((r) => [fmtTime(r.time_ns) + " " + r.rule, r.output]), "responses")
      : h("p.muted", { text: "No response action was taken." }),
    h("h2", {}, "Other alerts of this container within ±5 minutes"),
    (a.related || []).length ? alertTable(a.related, "related") : h("p.muted", { text: "None." }));
  // The status cell, updated in place by acknowledge/resolve.
  const cells = document.querySelectorAll("#alert-facts tr");
  for (const tr of cells) if (tr.firstChild.textContent === "status") tr.lastChild.id = "status-value";
}

// ---- rules ---------------------------------------------------------------------------------

async function pageRules() {
  setMain(h("p.muted", { text: "Loading…" }));
  let r;
  try {
    r = await api("/api/v1/rules");
  } catch (e) {
    setMain(h("h1", {}, "Rules"), errorBox(e));
    return;
  }
  const rows = r.rules.map((x) => h("tr", { "data-rule": x.name },
    h("td", {}, h("a", { href: "/console/alerts?rule=" + encodeURIComponent(x.name), text: x.name })),
    h("td", { text: x.enabled ? "yes" : "no" }),
    h("td", {}, prio(x.priority)),
    h("td", { text: (x.tags || []).join(", ") }),
    h("td.num", { text: fmtNum(x.hits) }),
    h("td.mono", { text: fmtTime(x.last_hit_ns) }),
    h("td.mono", { text: x.file + ":" + x.line })));
  const table = h("table", { id: "rules" }, h("tr", {}, ["Rule", "Enabled", "Priority", "Tags", "Hits", "Last hit", "Source"].map((t) => h("th", { text: t }))), rows);
  const search = h("input", { id: "rule-search", placeholder: "filter by name or tag", oninput: () => {
    const q = search.value.toLowerCase();
    rows.forEach((tr) => { tr.hidden = q !== "" && !tr.textContent.toLowerCase().includes(q); });
  } });
  setMain(h("h1", {}, `Rules (${r.rules.length} loaded, ${r.rules.filter((x) => x.enabled).length} enabled)`), h("p", {}, search), table);
}

// ---- debug ---------------------------------------------------------------------------------

async function section(path, render) {
  const box = h("div", {}, h("p.muted", { text: "Loading…" }));
  api(path).then((v) => box.replaceChildren(render(v))).catch((e) => box.replaceChildren(
    e.status === 404 ? h("p.muted", { text: "Not available from this agent (" + path + ")." }) : errorBox(e)));
  return box;
}

function table(cols, rows, id) {
  return h("table", { id }, h("tr", {}, cols.map((c) => h("th", { text: c }))),
    rows.map((r) => h("tr", {}, r.map((v) => h(typeof v === "number" ? "td.num" : "td", { text: v === null || v === undefined ? "" : (typeof v === "object" ? JSON.stringify(v) : String(v)) })))));
}

async function pageDebug() {
  const filter = h("input", { id: "debug-filter", size: 60, placeholder: "evt.type in (open, openat) and fd.name startswith /etc" });
  const limit = h("input", { id: "debug-limit", size: 4, value: "50" });
  const out = h("div", { id: "debug-events" });
  const run = async (e) => {
    if (e) e.preventDefault();
    out.replaceChildren(h("p.muted", { text: "Sampling (up to 2 s)…" }));
    const q = new URLSearchParams({ filter: filter.value, limit: limit.value });
    try {
      const r = await api("/api/v1/debug/events?" + q);
      out.replaceChildren(
        h("p.status", { id: "sample-counts", text: `${r.matched} matched of ${r.examined} examined` + (r.skipped ? `, ${r.skipped} skipped` : "") }),
        table(["Time", "Type", "Dir", "Fields"], (r.events || []).map((ev) => [fmtTime(ev.ts), ev.type, ev.dir,
          Object.entries(ev.fields || {}).map(([k, v]) => k + "=" + (v !== null && typeof v === "object" ? JSON.stringify(v) : v)).join("  ")]), "events"));
    } catch (err) {
      if (err.status === 400 && err.body && err.body.column !== undefined) {
        // The condition is one line here: the caret goes under the reported column.
        const col = Math.max(0, Number(err.body.column) - 1);
        out.replaceChildren(h("pre.error", { id: "filter-error", text: filter.value + "\n" + " ".repeat(col) + "^ " + err.body.error }));
      } else {
        out.replaceChildren(errorBox(err));
      }
    }
  };
  const age = (ms) => ms === undefined ? "" : (ms < 1000 ? ms + " ms" : fmtNum(ms / 1000, 1) + " s");
  setMain(h("h1", {}, "Debug"),
    h("h2", {}, "Live sample of decoded events"),
    h("p.muted", { text: "What reaches the engine: the event types the loaded rules and the state need (opens of paths no rule names may be shed in the kernel)." }),
    h("form.filters", { id: "debug-form", onsubmit: run }, h("label", {}, "Condition (Falco's language)", filter), h("label", {}, "Limit", limit), h("button.action", { type: "submit", id: "sample" }, "Sample")),
    out,
    h("h2", {}, "Drops per CPU and cause"),
    await section("/api/v1/debug/drops", (v) => h("div", {},
      h("p.status", { text: `kernel events/s: ${fmtNum(v.events_per_sec, 1)}` }),
      table(["CPU", "Events", "Drops", "Ring full", "Too large", "Missing enter"], (v.cpus || []).map((c) => [c.cpu, c.events, c.drops,
        c.causes ? c.causes.ring_full : null, c.causes ? c.causes.too_large : null, c.causes ? c.causes.missing_enter : null]), "drops"))),
    h("h2", {}, "Rule evaluation latency (sampled)"),
    await section("/api/v1/debug/rules", (v) => h("div", {},
      h("p.status", { text: v.sample_period ? `one event in ${v.sample_period} is timed` : "latency sampling is off" }),
      table(["Rule", "Samples", "p50 ns", "p99 ns", "Mean ns", "Estimated total ms"],
        (v.rules || []).map((r) => [r.rule, r.samples, r.p50_ns, r.p99_ns, r.mean_ns, Math.round((r.estimated_total_ns || 0) / 1e6)]), "rule-latency"))),
    h("h2", {}, "Container metadata lookups"),
    await section("/api/v1/debug/metadata", (v) => h("div", {},
      h("p.status", { id: "metadata-summary", text: `${v.pending} pending, ${v.failed} failed; ${v.lookups} lookups, ${v.lookups_failed} failed, ${v.requests_dropped} requests dropped` }),
      table(["Container", "Status", "Age", "Attempts", "Name / reason"], (v.containers || []).map((c) => [c.id, c.status, age(c.age_ms), c.attempts, c.name || c.reason || ""]), "metadata"))));
}

// ---- login and routing ---------------------------------------------------------------------

function loginPage() {
  const form = document.getElementById("login");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const k of ["user", "password", "token"]) {
      const v = form.elements[k].value;
      if (v) body[k] = v;
    }
    const err = document.getElementById("error");
    err.textContent = "";
    try {
      const r = await fetch("/api/v1/login", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      // The form is also the body of a page's 401: go back to that page, not the overview.
      if (r.ok) location.assign(location.pathname.startsWith("/console/login") ? "/console/" : location.href);
      else err.textContent = r.status === 401 ? "Wrong user, password or token." : "Login failed (HTTP " + r.status + ").";
    } catch (x) {
      err.textContent = "Login failed: " + x.message;
    }
  });
}

async function start() {
  if (document.getElementById("login")) {
    loginPage();
    return;
  }
  try {
    session = await api("/api/v1/session");
  } catch (e) {
    return;
  }
  document.getElementById("who").textContent = session.user + (session.role === "admin" ? "" : " (read-only)");
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/api/v1/logout", { method: "POST" }).catch(() => null);
    location.assign("/console/login");
  });
  const path = location.pathname.replace(/\/+$/, "");
  const page = path === "/console" ? "overview" : path.split("/")[2];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  const m = path.match(/^\/console\/alerts\/([^/]+)$/);
  if (m) return pageDetail(decodeURIComponent(m[1]));
  if (page === "alerts") return pageAlerts();
  if (page === "rules") return pageRules();
  if (page === "debug") return pageDebug();
  return pageOverview();
}

document.addEventListener("DOMContentLoaded", start);
