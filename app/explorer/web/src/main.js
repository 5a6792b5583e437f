// The explorer page: renders the server's snapshot (/api/snapshot) and re-renders it at each
// server-sent event (/api/events, one per new block). Every string from the chain is escaped:
// descriptions and notes are written by whoever posts a task or query.
import uPlot from "uplot";

const charts = new Map(); // task id -> {plot, key}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function short(text, n = 12) {
  const s = String(text ?? "");
  return s.length > n + 3 ? `${s.slice(0, n)}…` : s;
}

function pct(bps) {
  return bps === null || bps === undefined ? "" : `${(bps / 100).toFixed(2)}%`;
}

function table(headers, rows, empty) {
  if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function badge(b) {
  const el = { cls: "unverified", text: `unverified (${b.source})` };
  if (b.error) Object.assign(el, { cls: "failed", text: `read failed: ${b.error}` });
  else if (b.verified) Object.assign(el, { cls: "verified", text: `verified at height ${b.height}` });
  return `<span class="badge ${el.cls}" data-verified="${b.verified ? "yes" : "no"}">${esc(el.text)}</span>`;
}

function setPanel(id, b, html) {
  const panel = document.getElementById(id);
  panel.querySelector(".badge").outerHTML = badge(b);
  panel.querySelector(".body").innerHTML = html;
}

function renderChain(c) {
  if (!c) return "";
  const vals = c.validators.map(
    (v) => `<tr><td class="mono">${esc(short(v.address, 16))}</td><td>${esc(v.moniker)}</td><td>${v.power}</td>
      <td class="${v.jailed ? "jailed" : ""}">${v.jailed ? "jailed" : "no"}</td>
      <td class="${v.tombstoned ? "jailed" : ""}">${v.tombstoned ? "tombstoned" : "no"}</td></tr>`,
  );
  const blocks = c.blocks.map(
    (b) => `<tr><td>${b.height}</td><td>${esc(b.time)}</td><td class="mono">${esc(short(b.hash, 16))}</td><td>${b.txs}</td></tr>`,
  );
  const txs = c.txs.map(
    (t) => `<tr><td>${t.height}</td><td class="mono">${esc(short(t.hash, 16))}</td><td>${esc(t.action)}</td>
      <td class="${t.code ? "rejected" : ""}">${t.code}</td><td>${t.gas_used}</td><td>${esc(t.log)}</td></tr>`,
  );
  return `<p><span class="kv">chain <b>${esc(c.chain_id)}</b></span><span class="kv">height <b id="height">${c.height}</b></span>
    <span class="kv">block time <b>${esc(c.time)}</b></span></p>
    <h3>Validators</h3>${table(["address", "moniker", "power", "jailed", "tombstoned"], vals, "no validators")}
    <h3>Recent blocks</h3>${table(["height", "time", "hash", "txs"], blocks, "no blocks")}
    <h3>Recent txs</h3>${table(["height", "hash", "action", "code", "gas used", "log"], txs, "no txs in the recent blocks")}`;
}

function verdictCell(r) {
  if (!r.verdicts) return "";
  return r.verdicts.updates
    .map((u) => `<span class="${u.verdict === "accepted" ? "accepted" : "rejected"}">${esc(short(u.worker, 10))}: ${esc(u.verdict)} (${pct(u.median_bps)})</span>`)
    .join("<br>");
}

function evalNote(t) {
  const e = t.evaluation;
  if (!e) return '<p class="note">local test accuracy and loss: off (synod explorer --no-evaluate)</p>';
  if (e.error) return `<p class="note eval-error">local test accuracy and loss unavailable: ${esc(e.error)}</p>`;
  return "";
}

function renderTask(t) {
  const rounds = t.rounds.map(
    (r) => `<tr data-round="${r.round}"><td>${r.round}</td><td>${esc(r.outcome)}</td><td>${r.height || ""}</td>
      <td>${(r.accepted || []).length}/${r.revealed ?? ""}/${r.committed ?? ""}</td>
      <td class="${(r.rejected || []).length ? "rejected" : ""}">${(r.rejected || []).map((w) => esc(short(w, 10))).join(" ")}</td>
      <td>${pct(r.baseline_bps)}</td><td>${pct(r.accepted_median_bps)}</td>
      <td>${r.committee ? r.committee.seats.map((s) => esc(short(s.operator, 10))).join(" ") : ""}</td>
      <td>${verdictCell(r)}</td><td class="mono">${esc(short(r.model_hash, 16))}</td></tr>`,
  );
  const people = t.participants.map((p) => {
    const slashed = Number(p.slashed || 0) > 0;
    return `<tr data-worker="${esc(p.address)}" class="${slashed ? "slashed" : ""}"><td class="mono">${esc(p.address)}</td>
      <td>${p.accepted_updates}</td><td>${p.rejected_updates}</td><td>${p.missed_reveals}</td>
      <td data-slashed="${slashed ? "yes" : "no"}">${esc(p.slashed || "0")}</td></tr>`;
  });
  return `<article class="task" id="task-${t.id}" data-task="${t.id}">
    <h3>Task ${t.id}: ${esc(t.description)}</h3>
    <p><span class="kv">status <b class="status">${esc(t.status)}</b></span><span class="kv">phase <b class="phase">${esc(t.phase)}</b> (round ${t.round}, ends at ${t.phase_end_height})</span>
      <span class="kv">rounds <b class="rounds-done">${t.rounds_done}</b>/${t.rounds_total}</span><span class="kv">${esc(t.arch)} on ${esc(t.dataset)}, ${esc(t.aggregation)}</span></p>
    <div class="chart" id="chart-${t.id}"></div>${evalNote(t)}
    <h4>Rounds</h4>${table(["round", "outcome", "height", "acc/rev/com", "rejected", "baseline", "accepted median", "committee seats", "verdicts", "checkpoint hash"], rounds, "no rounds yet")}
    <h4>Participants</h4>${table(["worker", "accepted", "rejected", "missed reveals", "slashed"], people, "no workers")}
  </article>`;
}

function chartData(t) {
  // x: rounds; committee scores (on chain) and local test accuracy and loss (app/explorer/evaluate.py)
  const evals = new Map(((t.evaluation || {}).rounds || []).map((e) => [e.round, e]));
  const scored = new Map(t.rounds.filter((r) => r.baseline_bps !== undefined).map((r) => [r.round, r]));
  const xs = [...new Set([...evals.keys(), ...scored.keys()])].sort((a, b) => a - b);
  const at = (m, x, f) => (m.has(x) ? f(m.get(x)) : null);
  return [
    xs,
    xs.map((x) => at(scored, x, (r) => r.baseline_bps / 100)),
    xs.map((x) => at(scored, x, (r) => (r.accepted_median_bps ?? null) === null ? null : r.accepted_median_bps / 100)),
    xs.map((x) => at(evals, x, (e) => 100 * e.accuracy)),
    xs.map((x) => at(evals, x, (e) => e.loss)),
  ];
}

function drawChart(t) {
  const host = document.getElementById(`chart-${t.id}`);
  const data = chartData(t);
  if (!host || !data[0].length) return;
  host.dataset.points = String(data[0].length);
  host.dataset.evaluated = String(data[3].filter((v) => v !== null).length);
  const plot = new uPlot(
    {
      title: "accuracy and loss per round",
      width: Math.min(760, host.clientWidth || 760),
      height: 240,
      scales: { x: { time: false }, y: { range: [0, 100] }, loss: { auto: true } },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100] },
        { label: "%" },
        { scale: "loss", side: 1, label: "test loss", grid: { show: false } },
      ],
      series: [
        { label: "round" },
        { label: "committee: model entering the round", stroke: "#2563eb", width: 2, points: { size: 7 } },
        { label: "committee: median accepted update", stroke: "#059669", width: 2, points: { size: 7 } },
        { label: "test accuracy (local)", stroke: "#7c3aed", width: 2, dash: [6, 4], points: { size: 7 } },
        { label: "test loss (local)", scale: "loss", stroke: "#dc2626", width: 2, dash: [6, 4], points: { size: 7 } },
      ],
    },
    data,
    host,
  );
  charts.set(t.id, plot);
}

function renderTasks(tasks) {
  for (const plot of charts.values()) plot.destroy();
  charts.clear();
  if (!tasks) return "";
  return tasks.length ? tasks.map(renderTask).join("") : '<p class="empty">no tasks</p>';
}

function renderQuery(q) {
  const s = q.settlement;
  const settled = s
    ? `settled at height ${s.height} (round ${s.round}, ${s.voters} voters)${s.labels_revealed ? `, accuracy <b class="accuracy">${pct(s.accuracy_bps)}</b> against the revealed labels` : ", labels not revealed yet"}`
    : "not settled";
  const people = q.participants.map(
    (p) => `<tr><td class="mono">${esc(p.address)}</td><td>${pct(p.reputation_bps)}</td><td>${pct(p.reputation_now_bps)}</td>
      <td>${p.missed_reveals}</td><td class="${Number(p.slashed || 0) > 0 ? "slashed" : ""}">${esc(p.slashed || "0")}</td><td>${esc(p.reward || "0")}</td><td>${p.correct}</td></tr>`,
  );
  return `<article class="query" id="query-${q.id}"><h3>Query ${q.id}: ${esc(q.description)}</h3>
    <p><span class="kv">phase <b class="phase">${esc(q.phase)}</b> (round ${q.round}/${q.rounds_total}${q.fast ? ", fast path" : ""})</span>
    <span class="kv">${q.inputs} inputs, ${q.labels} classes</span><span class="kv settlement">${settled}</span></p>
    ${table(["participant", "reputation at join", "reputation now", "missed reveals", "slashed", "reward", "correct"], people, "no participants")}</article>`;
}

function renderSlashes(list) {
  const rows = list.map(
    (s) => `<tr class="slash"><td>${s.height}</td><td>${esc(s.module)}</td><td class="mono">${esc(s.who)}</td>
      <td class="reason">${esc(s.reason)}</td><td>${esc(s.burned)}</td></tr>`,
  );
  return table(["height", "module", "who", "reason", "burned"], rows, "no slashing events in the scanned blocks");
}

function render(snap) {
  if (snap.loading) return;
  const err = document.getElementById("node-error");
  err.hidden = !snap.node_error;
  err.textContent = snap.node_error ? `node unreachable: ${snap.node_error}` : "";
  document.body.dataset.height = String(snap.height);
  setPanel("chain", snap.badges.chain, renderChain(snap.chain));
  setPanel("tasks", snap.badges.tasks, renderTasks(snap.tasks));
  setPanel("queries", snap.badges.queries, snap.queries ? (snap.queries.map(renderQuery).join("") || '<p class="empty">no queries</p>') : "");
  setPanel("slashes", snap.badges.slashes, renderSlashes(snap.slashes));
  for (const t of snap.tasks || []) drawChart(t);
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { live.className = "live on"; live.textContent = "live"; });
  source.addEventListener("error", () => { live.className = "live off"; live.textContent = "reconnecting"; });
  source.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
}

fetch("/api/snapshot").then((r) => r.json()).then(render).finally(connect);
