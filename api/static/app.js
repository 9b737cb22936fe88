// claw-node dashboard: one row per node, live from GET /api/v1/events.
//
// The stream is read with fetch() rather than EventSource so the page can send an API
// token (Authorization) and choose where to resume (Last-Event-ID). Updates are applied
// in one batch per animation frame. When this page's node stops answering, the page
// says so, lists the other nodes' dashboards and follows the first of their event
// streams that answers (their APIs allow cross-origin GETs).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const RETRY_MS = 2000;          // wait between two rounds of reconnection attempts
  const TICK_MS = 1000;           // heartbeat ages are redrawn this often
  const STATUSES = ["online", "busy", "offline", "maintenance", "error"];

  const dash = window.__dash = {
    nodes: new Map(),             // node_id -> NodeInfo (as JSON)
    rows: new Map(),              // node_id -> {tr, cells}
    order: [],                    // node ids, sorted: the table's order
    coordinator: null, term: 0, self: null,
    home: location.origin, source: location.origin, lastId: null, offset: 0,
    skills: new Set(),
    stats: { firstRenderMs: null, snapshots: 0, applied: 0, lastBatch: 0, lastApplyMs: 0,
             maxApplyMs: 0, events: 0 },
  };
  let pending = new Map();        // node_id -> NodeInfo, or null (removed)
  let batchStart = 0;
  let scheduled = false;

  // --- the stream ------------------------------------------------------------------

  function token() { return sessionStorage.getItem("claw-token") || ""; }

  async function follow(base) {
    const headers = { Accept: "text/event-stream" };
    if (token()) headers.Authorization = "Bearer " + token();
    if (dash.lastId && base === dash.source) headers["Last-Event-ID"] = dash.lastId;
    const resp = await fetch(base + "/api/v1/events", { headers, cache: "no-store" });
    if (resp.status === 401) throw new Error("the API needs a token (enter it above)");
    if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
    dash.source = base;
    connected(base);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        onBlock(block);
      }
    }
    throw new Error("the stream ended");
  }

  function onBlock(block) {
    let id = null, kind = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(": ");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 2);
      if (name === "id") id = value;
      else if (name === "event") kind = value;
      else if (name === "data") data += value;
    }
    if (id !== null) dash.lastId = id;
    if (!data) return;
    dash.stats.events += 1;
    onEvent(kind, JSON.parse(data));
  }

  function onEvent(kind, data) {
    switch (kind) {
      case "snapshot": return onSnapshot(data);
      case "node": return queue(data.node, data.info);
      case "node_removed": return queue(data.node, null);
      case "member_suspect": return patch(data.node, { suspect: true, member_state: "suspect" });
      case "member_failed": return patch(data.node, { status: "offline", member_state: "failed" });
      case "member_left": return patch(data.node, { status: "offline", member_state: "left" });
      case "coordinator":
        dash.coordinator = data.node || null;
        dash.term = (data.details && data.details.term) || dash.term;
        return summary();
      default: return undefined;  // reset (a snapshot follows), joins (a node event follows)
    }
  }

  function onSnapshot(data) {
    const started = performance.now();
    dash.offset = data.time - Date.now() / 1000;
    if (dash.source === dash.home && dash.self === null) dash.self = data.node;
    dash.coordinator = data.coordinator ? data.coordinator.node_id : null;
    dash.term = data.coordinator ? data.coordinator.term : 0;
    const fresh = new Map(data.nodes.map((n) => [n.node_id, n]));
    for (const id of [...dash.rows.keys()]) if (!fresh.has(id)) removeRow(id);
    dash.nodes = fresh;
    pending = new Map();
    dash.order = [...fresh.keys()].sort();
    const body = $("rows");
    const fragment = document.createDocumentFragment();
    for (const id of dash.order) {
      const row = dash.rows.get(id) || makeRow(id);
      fill(row, fresh.get(id));
      fragment.appendChild(row.tr);
    }
    body.replaceChildren(fragment);
    skillsChanged();
    summary();
    dash.stats.snapshots += 1;
    if (dash.stats.firstRenderMs === null) dash.stats.firstRenderMs = performance.now();
    dash.stats.lastSnapshotMs = performance.now() - started;
  }

  function patch(id, changes) {
    const known = pending.get(id) || dash.nodes.get(id);
    if (known) queue(id, Object.assign({}, known, changes));
  }

  function queue(id, info) {
    if (!scheduled) {
      scheduled = true;
      batchStart = performance.now();
      if (document.hidden) setTimeout(apply, 50); else requestAnimationFrame(apply);
    }
    pending.set(id, info);
  }

  function apply() {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    let newSkills = false;
    for (const [id, info] of batch) {
      if (info === null) { removeRow(id); continue; }
      let row = dash.rows.get(id);
      if (!row) { row = makeRow(id); insertRow(id, row); }
      dash.nodes.set(id, info);
      for (const s of info.available_skills || []) if (!dash.skills.has(s)) newSkills = true;
      fill(row, info);
    }
    if (newSkills) skillsChanged();
    summary();
    const took = performance.now() - batchStart;
    Object.assign(dash.stats, { applied: dash.stats.applied + batch.size,
                                lastBatch: batch.size, lastApplyMs: took,
                                maxApplyMs: Math.max(dash.stats.maxApplyMs, took) });
  }

  // --- rows --------------------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function makeRow(id) {
    const tr = el("tr");
    tr.dataset.node = id;
    const cells = {};
    for (const name of ["dot", "node", "state", "suspicion", "cpu", "memory", "disk", "tasks",
                        "skills", "tags", "addresses", "rtt", "heartbeat"]) {
      cells[name] = el("td", name === "skills" || name === "tags" || name === "addresses"
        ? "wrap " + name : name);
      tr.appendChild(cells[name]);
    }
    cells.dot.appendChild(el("span", "dot"));
    const row = { tr, cells, key: "" };
    dash.rows.set(id, row);
    return row;
  }

  function insertRow(id, row) {
    let lo = 0, hi = dash.order.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (dash.order[mid] < id) lo = mid + 1; else hi = mid; }
    dash.order.splice(lo, 0, id);
    const next = dash.order[lo + 1];
    $("rows").insertBefore(row.tr, next ? dash.rows.get(next).tr : null);
  }

  function removeRow(id) {
    const row = dash.rows.get(id);
    if (row) row.tr.remove();
    dash.rows.delete(id);
    dash.nodes.delete(id);
    const at = dash.order.indexOf(id);
    if (at >= 0) dash.order.splice(at, 1);
  }

  function bar(cell, value, known) {
    cell.replaceChildren();
    if (!known) { cell.textContent = "–"; return; }
    const v = Math.max(0, Math.min(100, Number(value) || 0));
    const b = el("span", "bar" + (v >= 90 ? " crit" : v >= 75 ? " warn" : ""));
    const fill = el("i");
    fill.style.width = v + "%";
    b.appendChild(fill);
    cell.append(b, el("span", "pct", v.toFixed(0) + "%"));
  }

  function chips(cell, items, cls) {
    cell.replaceChildren(...(items || []).map((s) => el("span", cls, s)));
  }

  function addresses(n) {
    const out = [];
    if (n.gossip_address) out.push("gossip " + n.gossip_address);
    if (n.ip_address) out.push((n.source === "http" ? "http " : "ip ") + n.ip_address
                               + (n.source === "http" && n.port ? ":" + n.port : ""));
    if (n.tailscale_ip) out.push("tailscale " + n.tailscale_ip);
    if (n.api_url) out.push("api " + n.api_url);
    return out.join(" · ");
  }

  function fill(row, n) {
    const key = JSON.stringify(n) + (dash.coordinator === n.node_id);
    if (key === row.key) return;
    row.key = key;
    const c = row.cells;
    const coordinator = n.is_coordinator || dash.coordinator === n.node_id;
    row.tr.className = "s-" + n.status + (n.suspect ? " suspect" : "");
    c.dot.title = n.status;
    c.node.replaceChildren(document.createTextNode(n.node_id));
    if (coordinator) c.node.appendChild(el("span", "badge", "coordinator"));
    c.state.textContent = n.member_state || n.status;
    c.suspicion.textContent = n.suspect
      ? "suspect" + (n.suspect_since ? " since " + new Date(n.suspect_since).toLocaleTimeString() : "")
      : "–";
    const known = n.last_heartbeat !== null && n.last_heartbeat !== undefined;
    bar(c.cpu, n.cpu_usage, known);
    bar(c.memory, n.memory_usage, known);
    bar(c.disk, n.disk_usage, known);
    c.tasks.textContent = n.running_tasks + " / " + n.max_concurrent_tasks;
    chips(c.skills, n.available_skills, "chip");
    chips(c.tags, n.tags, "chip tag");
    c.addresses.textContent = addresses(n);
    c.addresses.title = c.addresses.textContent;
    // Estimated round trip from the node serving this page (Vivaldi coordinates).
    const rtt = n.estimated_rtt_ms;
    c.rtt.textContent = rtt === null || rtt === undefined ? "–"
      : (rtt < 10 ? rtt.toFixed(2) : rtt.toFixed(0)) + " ms";
    c.heartbeat.dataset.at = known ? String(Date.parse(n.last_heartbeat) / 1000) : "";
    age(c.heartbeat, Date.now() / 1000 + dash.offset);
    show(row, n);
  }

  function age(cell, now) {
    const at = Number(cell.dataset.at);
    cell.textContent = cell.dataset.at ? Math.max(0, Math.round(now - at)) + " s ago" : "never";
  }

  // --- filters and summary -------------------------------------------------------------

  function matches(n) {
    const status = $("filter-status").value;
    const skill = $("filter-skill").value;
    const statusOk = !status || (status === "suspect" ? n.suspect : n.status === status);
    return statusOk && (!skill || (n.available_skills || []).includes(skill));
  }

  function show(row, n) { row.tr.hidden = !matches(n); }

  function refilter() {
    for (const [id, row] of dash.rows) show(row, dash.nodes.get(id));
    summary();
  }

  function skillsChanged() {
    const all = new Set();
    for (const n of dash.nodes.values()) for (const s of n.available_skills || []) all.add(s);
    dash.skills = all;
    const select = $("filter-skill");
    const chosen = select.value;
    const options = [el("option", "", "all")];
    options[0].value = "";
    for (const s of [...all].sort()) options.push(el("option", "", s));
    select.replaceChildren(...options);
    select.value = all.has(chosen) ? chosen : "";
  }

  function summary() {
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    let suspect = 0, shown = 0;
    for (const n of dash.nodes.values()) {
      counts[n.status] = (counts[n.status] || 0) + 1;
      if (n.suspect) suspect += 1;
      if (matches(n)) shown += 1;
    }
    const total = dash.nodes.size;
    const up = counts.online + counts.busy;
    const health = !dash.coordinator || up === 0 || counts.offline * 2 > total ? "critical"
      : counts.offline || counts.error || suspect ? "degraded" : "healthy";
    $("sum-online").textContent = counts.online;
    $("sum-busy").textContent = counts.busy;
    $("sum-offline").textContent = counts.offline;
    $("sum-health").textContent = health;
    $("sum-health").className = "value health-" + health;
    $("sum-coordinator").textContent = dash.coordinator || "none";
    $("sum-term").textContent = dash.term;
    $("shown").textContent = shown + " of " + total + " nodes shown";
    for (const [id, row] of dash.rows) {
      const n = dash.nodes.get(id);
      if (n) row.cells.node.classList.toggle("is-coordinator", dash.coordinator === id);
    }
  }

  // --- connection and node death ----------------------------------------------------------

  function connected(base) {
    const conn = $("connection");
    conn.className = "conn live";
    conn.textContent = base === dash.home ? "live" : "live via " + base;
    const away = base !== dash.home;
    $("down").hidden = !away;
    if (away) {
      $("down-title").textContent = "This page's node" + (dash.self ? " (" + dash.self + ")" : "")
        + " is unreachable.";
      $("down-detail").textContent = "Showing the cluster as seen from " + base + ".";
    }
  }

  function lost(reason) {
    const conn = $("connection");
    conn.className = "conn down";
    conn.textContent = "disconnected: " + reason;
    if (dash.source !== dash.home) return;
    $("down").hidden = false;
    $("down-title").textContent = "This page's node" + (dash.self ? " (" + dash.self + ")" : "")
      + " is unreachable.";
    $("down-detail").textContent = "Trying it and the other nodes' APIs every "
      + RETRY_MS / 1000 + " s.";
    const links = otherDashboards().map((url) => {
      const li = el("li");
      const a = el("a", "", url + "/");
      a.href = url + "/";
      li.appendChild(a);
      return li;
    });
    $("down-links").replaceChildren(...links);
  }

  function otherDashboards() {
    const urls = [];
    for (const n of dash.nodes.values()) {
      if (n.api_url && n.node_id !== dash.self && n.status !== "offline"
          && n.api_url !== dash.home) urls.push(n.api_url);
    }
    return urls.sort();
  }

  async function run() {
    for (;;) {
      const candidates = [dash.source, dash.home, ...otherDashboards()];
      for (const base of [...new Set(candidates)]) {
        try {
          await follow(base);
        } catch (err) {
          lost(err && err.message ? err.message : String(err));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  // --- start ---------------------------------------------------------------------------------

  $("filter-status").addEventListener("change", refilter);
  $("filter-skill").addEventListener("change", refilter);
  $("token").value = token();
  $("token").addEventListener("change", (e) => {
    sessionStorage.setItem("claw-token", e.target.value.trim());
    location.reload();
  });
  setInterval(() => {
    const now = Date.now() / 1000 + dash.offset;
    for (const row of dash.rows.values()) if (!row.tr.hidden) age(row.cells.heartbeat, now);
  }, TICK_MS);
  run();
})();
