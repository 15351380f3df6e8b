// The operator console. Every few seconds it reads the API's routes and
// renders them; its buttons call the API's mutating routes. It keeps the
// last hour of each site's backlog and throughput (for the charts) and the
// lag histogram's samples (for the 15-minute quantiles) itself, since the
// API has no history. All text from the API is set as textContent.
"use strict";
(() => {
  const query = new URLSearchParams(location.search);
  const REFRESH_MS = Math.max(1, Number(query.get("refresh")) || 5) * 1000;
  const HOUR_MS = 3600e3;
  const LAG_WINDOW_MS = 15 * 60e3;
  const LAG_METRIC = "backbeat_replication_lag_seconds_bucket";
  const RETRY_BATCH = 1000; // the API takes at most 1000 entries a request
  const $ = (sel) => document.querySelector(sel);
  const enc = encodeURIComponent;

  // h builds an element: h("td", {class: "x"}, "text", child...).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    el.append(...children.filter((c) => c !== undefined && c !== null));
    return el;
  }

  // ---- the API -------------------------------------------------------------
  let token = sessionStorage.getItem("backbeat.token") || "";
  let refused = null; // the action refused for want of a token, run again once one is given

  class APIError extends Error {
    constructor(status, body, what) {
      const name = (body && body.message) || String(status);
      const desc = (body && body.description) || (typeof body === "string" ? body : "");
      super(`${what}: ${status} ${name}${desc ? ": " + desc : ""}`);
      Object.assign(this, { status, body, name, description: desc });
    }
  }

  async function call(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token && method !== "GET") headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = text;
    if ((res.headers.get("Content-Type") || "").startsWith("application/json") && text) data = JSON.parse(text);
    if (!res.ok) throw new APIError(res.status, data, `${method} ${path}`);
    return data;
  }
  const get = (path) => call("GET", path);

  function notify(text, kind) {
    const n = $("#notice");
    n.textContent = text;
    n.className = kind;
    n.hidden = false;
  }

  // act runs a mutating action and says how it went; a refusal for want of
  // a token (401, or 403 for a wrong one) asks for the token.
  async function act(label, fn) {
    try {
      notify(await fn(), "ok");
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        if (e.status === 403) forgetToken();
        refused = { label, fn };
        notify(`Refused: ${label} (${e.status} ${e.name}: ${e.description}). Enter the API token to continue.`, "error");
        $("#token-form").hidden = false;
        $("#token").focus();
      } else {
        notify(`${label} failed: ${e.message}`, "error");
      }
    }
    refresh();
  }

  function forgetToken() {
    token = "";
    sessionStorage.removeItem("backbeat.token");
  }

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("#token").value.trim();
    sessionStorage.setItem("backbeat.token", token);
    $("#token").value = "";
    $("#token-form").hidden = true;
    if (refused) {
      const { label, fn } = refused;
      refused = null;
      act(label, fn);
    }
  });
  $("#token-cancel").addEventListener("click", () => {
    refused = null;
    $("#token-form").hidden = true;
  });

  // confirm asks in the page's dialog; it resolves true for "Retry".
  function confirmDialog(text) {
    const d = $("#confirm");
    $("#confirm-text").textContent = text;
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.returnValue = "";
      d.showModal();
    });
  }

  // ---- formatting ------------------------------------------------------------
  const fmtCount = (n) => Number(n).toLocaleString("en-US");
  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let v = Number(n), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
  }
  // fmtWindow says a metric's window, from the API's windowSeconds.
  function fmtWindow(metric) {
    const s = Number((metric && metric.windowSeconds) || 0);
    if (!s) return "";
    return s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`;
  }
  const fmtSeconds = (s) => (s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
  const fmtTime = (t) => new Date(t).toLocaleString();

  // ---- lag: quantiles of the histogram's growth over the last 15 minutes -----
  const lagSamples = {}; // site -> [{t, buckets: [[le, cumulative]]}]

  function parseLag(text) {
    const bySite = {};
    for (const line of text.split("\n")) {
      if (!line.startsWith(LAG_METRIC + "{")) continue;
      const close = line.lastIndexOf("}");
      const labels = {};
      for (const m of line.slice(LAG_METRIC.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
      const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
      const m = (bySite[labels.site] ||= new Map());
      m.set(le, (m.get(le) || 0) + Number(line.slice(close + 1).trim().split(/\s+/)[0]));
    }
    const out = {};
    for (const [site, m] of Object.entries(bySite)) out[site] = [...m.entries()].sort((a, b) => a[0] - b[0]);
    return out;
  }

  // quantile interpolates within the bucket holding rank q, as
  // Prometheus' histogram_quantile does.
  function quantile(q, buckets) {
    const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
    if (!total) return null;
    const rank = q * total;
    let lo = 0, below = 0;
    for (const [le, cum] of buckets) {
      if (cum >= rank) {
        if (le === Infinity) return { value: lo, over: true };
        return { value: lo + ((le - lo) * (rank - below)) / (cum - below || 1) };
      }
      lo = le;
      below = cum;
    }
    return null;
  }

  function lagText(site, histograms, now) {
    if (!histograms) return "no lag histogram at /metrics";
    const cur = histograms[site] || [];
    const samples = (lagSamples[site] ||= []);
    samples.push({ t: now, buckets: cur });
    while (samples.length > 1 && samples[1].t <= now - LAG_WINDOW_MS) samples.shift();
    const base = samples[0];
    if (base.t === now) return "collecting…";
    const baseOf = new Map(base.buckets);
    let delta = cur.map(([le, c]) => [le, c - (baseOf.get(le) || 0)]);
    if (delta.some(([, c]) => c < 0)) delta = cur; // the service restarted: its counts began again
    const p50 = quantile(0.5, delta), p99 = quantile(0.99, delta);
    const since = base.t > now - LAG_WINDOW_MS + REFRESH_MS ? ` (since ${new Date(base.t).toLocaleTimeString()})` : "";
    if (!p50) return "no copy in the window" + since;
    const f = (x) => (x.over ? `> ${fmtSeconds(x.value)}` : fmtSeconds(x.value));
    return `p50 ${f(p50)} · p99 ${f(p99)}${since}`;
  }

  // ---- sites -----------------------------------------------------------------
  const cards = {}; // site -> {el, plot, fields}
  let history = {};
  try { history = JSON.parse(sessionStorage.getItem("backbeat.history")) || {}; } catch { history = {}; }

  function field(name) { return h("span", { "data-field": name }); }

  function makeCard(site) {
    const f = {};
    for (const n of ["state", "backlog-count", "backlog-size", "lag", "throughput-count", "throughput-size",
      "completions-count", "completions-size", "failures-count", "failures-size",
      "completions-window", "failures-window", "throughput-window"]) f[n] = field(n);
    const stat = (label, win, ...vals) => h("div", {}, h("dt", {}, label, win ? " (" : "", win, win ? ")" : ""), h("dd", {}, ...vals));
    const chart = h("div", { class: "chart", role: "img", "aria-label": `Backlog and throughput of ${site} over the last hour` });
    const at = h("input", { type: "datetime-local", id: `at-${site}`, "aria-label": `Resume ${site} at` });
    const b = {
      pause: h("button", { type: "button", "aria-label": `Pause ${site}`, onclick: () => act(`pause ${site}`, async () => {
        await call("POST", `/_/crr/pause/${enc(site)}`); return `${site} paused`; }) }, "Pause"),
      resume: h("button", { type: "button", "aria-label": `Resume ${site} now`, onclick: () => act(`resume ${site}`, async () => {
        await call("POST", `/_/crr/resume/${enc(site)}`); return `${site} resumed`; }) }, "Resume now"),
      schedule: h("button", { type: "button", "aria-label": `Schedule the resume of ${site}`, onclick: () => act(`schedule the resume of ${site}`, async () => {
        if (!at.value) throw new Error("choose a time first");
        const when = new Date(at.value);
        await call("POST", `/_/crr/resume/${enc(site)}/schedule`, { at: when.toISOString() });
        return `${site} resumes at ${when.toLocaleString()}`; }) }, "Schedule resume"),
      cancel: h("button", { type: "button", "aria-label": `Cancel the scheduled resume of ${site}`, onclick: () => act(`cancel the resume of ${site}`, async () => {
        await call("DELETE", `/_/crr/resume/${enc(site)}/schedule`); return `${site} stays paused`; }) }, "Cancel schedule"),
    };
    const sched = h("div", { class: "schedule" }, h("label", { for: at.id }, "Resume at"), at, b.schedule, b.cancel);
    const el = h("article", { class: "card", "data-site": site, "aria-labelledby": `site-${site}` },
      h("header", {}, h("h3", { id: `site-${site}` }, site), f.state),
      h("dl", { class: "stats" },
        stat("Backlog", null, f["backlog-count"], " entries · ", f["backlog-size"]),
        stat("Lag", "15 min", f.lag),
        stat("Throughput", f["throughput-window"], f["throughput-count"], " ops/s · ", f["throughput-size"], "/s"),
        stat("Completions", f["completions-window"], f["completions-count"], " · ", f["completions-size"]),
        stat("Failures", f["failures-window"], f["failures-count"], " · ", f["failures-size"])),
      chart,
      h("div", { class: "actions" }, b.pause, b.resume),
      sched);
    $("#site-cards").append(el);
    const plot = new uPlot({
      width: chart.clientWidth || 300, height: 150, legend: { live: false },
      scales: { x: { time: true }, n: { auto: true }, r: { auto: true } },
      series: [{}, { label: "backlog (entries)", scale: "n", stroke: "#b03a2e", width: 2 },
        { label: "throughput (ops/s)", scale: "r", stroke: "#1f618d", width: 2 }],
      axes: [{}, { scale: "n" }, { scale: "r", side: 1, grid: { show: false } }],
    }, [[], [], []], chart);
    return (cards[site] = { el, plot, f, b, at, sched, chart });
  }

  function setCount(f, name, r) {
    f[name + "-count"].textContent = fmtCount(r.count);
    f[name + "-size"].textContent = fmtBytes(r.size);
    f[name + "-size"].title = `${r.size} bytes`;
  }

  async function loadSites(now) {
    const [status, schedule, prom] = await Promise.all([get("/_/crr/status"), get("/_/crr/resume"),
      get("/metrics").catch(() => "")]);
    const histograms = prom.includes(LAG_METRIC) ? parseLag(prom) : null;
    const sites = Object.keys(status).sort();
    const metrics = await Promise.all(sites.map((s) => get(`/_/metrics/crr/${enc(s)}`)));
    sites.forEach((site, i) => {
      const c = cards[site] || makeCard(site);
      const m = metrics[i], f = c.f;
      const paused = status[site] === "disabled";
      const at = schedule[site] && schedule[site] !== "none" ? schedule[site] : "";
      f.state.textContent = !paused ? "running" : at ? `paused, resumes ${fmtTime(at)}` : "paused";
      f.state.className = "state " + (paused ? "paused" : "running");
      c.b.pause.hidden = paused;
      c.b.resume.hidden = !paused;
      c.sched.hidden = !paused;
      c.b.cancel.hidden = !at;
      if (paused && !c.at.value) {
        const d = new Date(now + 6 * HOUR_MS - new Date().getTimezoneOffset() * 60e3);
        c.at.value = d.toISOString().slice(0, 16);
      }
      setCount(f, "backlog", m.backlog.results);
      setCount(f, "completions", m.completions.results);
      setCount(f, "failures", m.failures.results);
      f["completions-window"].textContent = fmtWindow(m.completions);
      f["failures-window"].textContent = fmtWindow(m.failures);
      f["throughput-window"].textContent = fmtWindow(m.throughput);
      f["throughput-count"].textContent = m.throughput.results.count;
      f["throughput-size"].textContent = fmtBytes(Number(m.throughput.results.size));
      f.lag.textContent = lagText(site, histograms, now);
      const series = (history[site] ||= []);
      series.push([now / 1000, m.backlog.results.count, Number(m.throughput.results.count)]);
      while (series.length && series[0][0] < (now - HOUR_MS) / 1000) series.shift();
      c.plot.setData([series.map((p) => p[0]), series.map((p) => p[1]), series.map((p) => p[2])], false);
      c.plot.setScale("x", { min: (now - HOUR_MS) / 1000, max: now / 1000 });
    });
    sessionStorage.setItem("backbeat.history", JSON.stringify(history));
    const sel = $("#failed-site");
    if (sel.options.length !== sites.length) sel.replaceChildren(...sites.map((s) => h("option", { value: s }, s)));
  }

  window.addEventListener("resize", () => {
    for (const c of Object.values(cards)) c.plot.setSize({ width: c.chart.clientWidth || 300, height: 150 });
  });

  // ---- failed entries --------------------------------------------------------
  let markers = []; // the markers of the newer pages, to go back
  let marker = 0;
  let page = { Versions: [] };

  const entry = (v) => ({ Bucket: v.Bucket, Key: v.Key, VersionId: v.VersionId, StorageClass: v.StorageClass });

  async function retry(site, entries, question) {
    if (!(await confirmDialog(question))) return;
    act(`retry ${entries.length} failed entr${entries.length === 1 ? "y" : "ies"} of ${site}`, async () => {
      let queued = 0;
      for (let i = 0; i < entries.length; i += RETRY_BATCH) {
        queued += (await call("POST", "/_/crr/failed", entries.slice(i, i + RETRY_BATCH))).length;
      }
      return `${queued} of ${entries.length} failed entr${entries.length === 1 ? "y" : "ies"} of ${site} re-queued`;
    });
  }

  async function loadFailures() {
    const site = $("#failed-site").value;
    if (!site) return;
    page = await get(`/_/crr/failed?sitename=${enc(site)}&marker=${marker}`);
    $("#failed-table tbody").replaceChildren(...page.Versions.map((v) => h("tr", {},
      h("td", {}, v.Bucket), h("td", { class: "key" }, v.Key), h("td", {}, h("code", {}, v.VersionId)),
      h("td", { title: `${v.Size} bytes` }, fmtBytes(v.Size)),
      h("td", { title: v.LastModified ? `written ${fmtTime(v.LastModified)}` : "" }, v.FailedAt ? fmtTime(v.FailedAt) : ""),
      h("td", { class: "reason" }, v.Reason || ""),
      h("td", {}, h("button", { type: "button", "aria-label": `Retry ${v.Bucket}/${v.Key} version ${v.VersionId}`,
        onclick: () => retry(site, [entry(v)], `Retry 1 failed entry of ${site}: ${v.Bucket}/${v.Key} (version ${v.VersionId})?`) }, "Retry")))));
    const n = page.Versions.length;
    $("#failed-caption").textContent = n === 0 && markers.length === 0 ? `no failed entry at ${site}`
      : `${n} failed entr${n === 1 ? "y" : "ies"} of ${site} on this page, newest first${page.IsTruncated ? "; older ones on the next page" : ""}`;
    $("#failed-older").disabled = !page.IsTruncated;
    $("#failed-newer").disabled = markers.length === 0;
    $("#retry-page").disabled = n === 0;
    $("#retry-all").disabled = n === 0;
  }

  $("#failed-site").addEventListener("change", () => { markers = []; marker = 0; loadFailures(); });
  $("#failed-older").addEventListener("click", () => { markers.push(marker); marker = page.NextMarker; loadFailures(); });
  $("#failed-newer").addEventListener("click", () => { marker = markers.pop() || 0; loadFailures(); });
  $("#retry-page").addEventListener("click", () => {
    const site = $("#failed-site").value, n = page.Versions.length;
    retry(site, page.Versions.map(entry), `Retry the ${n} failed entr${n === 1 ? "y" : "ies"} of this page of ${site}?`);
  });
  $("#retry-all").addEventListener("click", async () => {
    const site = $("#failed-site").value;
    const all = new Map();
    let m = 0;
    try {
      for (;;) { // NextMarker is inclusive: an entry may come twice
        const p = await get(`/_/crr/failed?sitename=${enc(site)}&marker=${m}`);
        for (const v of p.Versions) all.set(JSON.stringify(entry(v)), entry(v));
        if (!p.IsTruncated || p.NextMarker === m) break;
        m = p.NextMarker;
      }
    } catch (e) {
      notify(`listing the failed entries of ${site} failed: ${e.message}`, "error");
      return;
    }
    retry(site, [...all.values()], `Retry all ${all.size} failed entr${all.size === 1 ? "y" : "ies"} of ${site}?`);
  });

  // ---- jobs ------------------------------------------------------------------
  function jobCard(job) {
    const pct = `${Math.floor((job.progress || 0) * 100)}%`;
    const counts = job.kind === "verify"
      ? [h("p", {}, `${fmtCount(job.compared)} compared · ${fmtCount(job.drift)} findings · ${fmtCount(job.requeued)} re-queued`),
        h("ul", { class: "kinds" }, ...Object.entries(job.byKind || {}).map(([k, n]) =>
          h("li", {}, h("a", { href: `/_/verify/${enc(job.id)}/findings?kind=${enc(k)}` }, `${k}: ${fmtCount(n)}`)))),
        h("p", {}, h("a", { href: `/_/verify/${enc(job.id)}/findings` }, "all findings (JSON)"))]
      : [h("p", {}, `${fmtCount(job.queued)} queued (${fmtBytes(job.bytesQueued)})${job.dryRun ? ", dry run" : ""}`),
        h("ul", { class: "kinds" }, ...Object.entries(job.skipped || {}).map(([k, n]) => h("li", {}, `skipped ${k}: ${fmtCount(n)}`))),
        h("p", {}, h("a", { href: `/_/backfill/${enc(job.id)}` }, "job (JSON)"))];
    return h("article", { class: "card job", "data-job": job.id },
      h("header", {}, h("h3", {}, `${job.kind} ${job.id}`), h("span", { class: "state " + job.state }, job.state)),
      h("p", { class: "muted" }, `${job.bucket}${job.prefix ? "/" + job.prefix : ""} · started ${fmtTime(job.startedAt)}`),
      h("label", {}, h("progress", { max: 1, value: job.progress || 0, "aria-label": `progress of ${job.kind} ${job.id}` }),
        ` ${pct} · ${fmtCount(job.scanned)} of ${fmtCount(job.total)} versions`),
      job.error ? h("p", { class: "error" }, job.error) : null,
      ...counts);
  }

  async function loadJobs() {
    const lists = await Promise.all(["backfill", "verify"].map((k) => get(`/_/${k}`).catch((e) => {
      if (e.status === 501) return [];
      throw e;
    })));
    const jobs = lists.flat();
    $("#job-list").replaceChildren(...(jobs.length ? jobs.map(jobCard) : [h("p", { class: "muted" }, "no backfill or verify job")]));
  }

  // ---- health ----------------------------------------------------------------
  async function loadHealth() {
    let body;
    try {
      body = await get("/_/healthcheck");
    } catch (e) {
      if (!(e.body && e.body.internalConnections)) throw e;
      body = e.body; // 500 carries the same body
    }
    $("#health-status").textContent = `status: ${body.status}`;
    $("#health-status").className = "state " + body.status;
    const items = [];
    for (const [name, v] of Object.entries(body.internalConnections || {})) {
      if (typeof v === "string") items.push([name, v, ""]);
      else if (name !== "zookeeper") items.push([name, v.status, v.error || ""]);
    }
    for (const t of Object.values(body.topics || {})) {
      const bad = (t.partitions || []).filter((p) => p.error || p.leader < 0);
      items.push([`topic ${t.name}`, t.error || bad.length ? "error" : "ok",
        t.error || bad.map((p) => `partition ${p.id}: ${p.error || "no leader"}`).join("; ")]);
    }
    const pop = body.roles && body.roles.populator;
    if (pop) items.push(["populator", pop.active ? "active" : "standby", `epoch ${pop.epoch}`]);
    const lost = pop && pop.historyLost;
    if (lost) {
      const jobs = Object.keys(lost.backfills || {}).length;
      items.push(["journal history", "degraded", `lost ${lost.count} time(s), last at ${fmtTime(lost.at)}: buckets ` +
        `${(lost.buckets || []).join(", ")}; ${jobs} backfill job(s) started` +
        Object.entries(lost.notBackfilled || {}).map(([b, why]) => `; ${b} not backfilled: ${why}`).join("")]);
    }
    $("#health-list").replaceChildren(...items.map(([name, st, err]) => h("li", { "data-service": name },
      h("span", { class: "name" }, name), h("span", { class: "state " + st }, st), err ? h("span", { class: "detail" + (st === "error" || st === "degraded" ? " error" : "") }, err) : null)));
  }

  // ---- refresh loop ----------------------------------------------------------
  let running = false, again = false, timer = 0, refreshes = 0;
  async function refresh() {
    if (running) { again = true; return; }
    running = true;
    clearTimeout(timer);
    const now = Date.now();
    const parts = { sites: loadSites(now), jobs: loadJobs(), health: loadHealth() };
    parts.failures = parts.sites.then(loadFailures);
    const errors = [];
    for (const [name, p] of Object.entries(parts)) {
      try { await p; } catch (e) { errors.push(`${name}: ${e.message}`); }
    }
    $("#updated").textContent = `updated ${new Date(now).toLocaleTimeString()}` + (errors.length ? ` · cannot read ${errors.join("; ")}` : "");
    $("#updated").className = errors.length ? "error" : "muted";
    document.body.dataset.refreshes = String(++refreshes); // tests wait on it
    running = false;
    if (again) { again = false; refresh(); return; }
    timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
})();
