// fedadmet web page: plain JavaScript, no network access beyond this server (works offline).
"use strict";

const CATEGORIES = ["Absorption", "Distribution", "Metabolism", "Excretion", "Toxicity"];
const $ = (selector) => document.querySelector(selector);
const SVG_NS = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------- API key and requests
function apiKey() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    localStorage.setItem("fedadmet-key", fromHash);
    history.replaceState(null, "", location.pathname);
  }
  return localStorage.getItem("fedadmet-key") || "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-API-Key": $("#api-key").value.trim() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(`${response.status}: ${detail}`), { status: response.status });
  }
  return response;
}

// No status (network down) or a 5xx: the server may be restarting, so asking again can succeed.
const transient = (error) => !error.status || error.status >= 500;
const RETRY_MAX_MS = 30_000;
const backoff = (pause) => Math.min(2 * pause, RETRY_MAX_MS);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svgElement(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

const format = (value) => value === null || value === undefined ? "–"
  : Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(2);

const formatProbability = (value) => value === null || value === undefined ? "–"
  : value < 0.01 ? "<0.01" : value > 0.99 ? ">0.99" : value.toFixed(2);

const when = (iso) => new Date(iso).toLocaleString();

// Pages in their own files (design.js, campaigns.js) register their loader here: name → function.
const PAGE_LOADERS = {};

// ---------------------------------------------------------------- profile page
let endpointInfo = null;  // name → GET /v1/endpoints row (description, unit, good, thresholds); fetched once

async function loadEndpointInfo() {
  endpointInfo ??= Object.fromEntries((await (await api("/v1/endpoints")).json()).map((e) => [e.name, e]));
  return endpointInfo;
}

async function profile() {
  const lines = $("#smiles-input").value.split("\n").map((l) => l.trim()).filter(Boolean);
  const names = lines.map((l) => l.split(/\s+/).slice(1).join(" "));
  const smiles = lines.map((l) => l.split(/\s+/)[0]);
  const status = $("#profile-status");
  if (!smiles.length) { status.textContent = "enter at least one SMILES"; status.className = "status error"; return; }
  $("#profile-button").disabled = true;
  status.className = "status";
  status.textContent = `profiling ${smiles.length} molecule(s)…`;
  const started = performance.now();
  try {
    const atc = $("#atc-class").value || null;  // percentiles among one ATC class of approved drugs
    const [result, info] = await Promise.all([
      api("/v1/predict", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ smiles, depict: true, atc, endpoints: requestedEndpoints() }),
      }).then((response) => response.json()),
      loadEndpointInfo(),
      setupProfileExtras(),
    ]);
    lastProfile = { molecules: result.molecules, names, info };
    renderProfiles();  // table.js: the table, the cards
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    status.textContent = `${result.molecules.length} molecule(s) in ${seconds} s; ${percentileReference(result.percentile_reference)}`;
  } catch (error) {
    status.textContent = error.message;
    status.className = "status error";
  } finally {
    $("#profile-button").disabled = false;
  }
}

function moleculeCard(molecule, name, info) {
  const card = element("article", { class: "molecule" });
  card.append(element("h2", {}, name ? `${name} — ${molecule.input}` : molecule.input));
  if (molecule.error) {
    card.append(element("p", { class: "error" }, molecule.error));
    return card;
  }
  const depiction = element("div", { class: "depiction" });
  depiction.innerHTML = molecule.svg || "";  // RDKit's SVG, made by our own server
  const notes = element("div", { class: "notes" });
  notes.append(element("div", {}, `canonical SMILES: ${molecule.smiles}`));
  if (molecule.standardisation) notes.append(element("div", { class: "standardisation" }, `standardised: ${molecule.standardisation}`));
  notes.append(element("div", {}, `applicability domain: ${format(molecule.applicability_domain)} (nearest-neighbour similarity to training molecules)`));
  if (!molecule.in_domain) {
    notes.append(element("div", { class: "warning" }, "Outside the applicability domain: predictions are extrapolations; trust them less."));
  }
  const alerts = element("ul", { class: "alerts" }, ...molecule.alerts.map((a) => element("li", {}, a)));
  notes.append(element("div", {}, molecule.alerts.length ? `structural alerts (${molecule.alerts.length}):` : "no structural alerts (PAINS, Brenk, NIH)"), alerts);
  const radar = element("div", { class: "radar" });
  radar.append(radarPlot(molecule.radar));
  card.append(element("div", { class: "summary" }, depiction, radar, notes));
  const groups = element("div", { class: "groups" });
  for (const category of CATEGORIES) {
    const rows = molecule.endpoints.filter((e) => e.category === category);
    if (rows.length) groups.append(endpointTable(category, rows, info));
  }
  card.append(groups, propertiesBlock(molecule));  // table.js
  return card;
}

const LIGHTS = { green: "favourable", amber: "borderline", red: "unfavourable", neutral: "no colour" };

function endpointTable(category, rows, info) {
  const body = element("tbody");
  for (const e of rows) {
    const about = info[e.name];
    const classification = e.task === "classification";
    // A classifier's uncertainty is the chance its call is wrong, not a spread around the value.
    const [spread, spreadMeaning] = classification
      ? [`P(wrong call) ${formatProbability(e.uncertainty)}`, "probability that the call (positive above 0.5, negative below) is wrong"]
      : [e.interval ? `${format(e.interval[0])} – ${format(e.interval[1])}` : "–", "90 % conformal interval"];
    const direction = about.good ? `${about.good} is better` : "no preferred direction";
    const row = element("tr", { "data-endpoint": e.name },
      element("td", { class: "name", title: `${about.description} (${about.unit}; ${direction})\ntraffic light: ${about.thresholds}` },
        element("i", { class: `dot ${e.traffic_light}`, title: `${e.traffic_light} (${LIGHTS[e.traffic_light]}) by the rule: ${about.thresholds}` }),
        e.name),
      element("td", { class: "num" }, classification ? formatProbability(e.value) : format(e.value)),
      element("td", {}, classification ? "probability" : e.unit),
      element("td", { class: "num uncertainty", title: spreadMeaning }, spread),
      element("td", { class: "num percentile" }, e.percentile === null ? "–" : `${e.percentile.toFixed(0)}%`));
    body.append(row);
  }
  const head = element("thead", {}, element("tr", {}, ...["endpoint", "value", "unit", "uncertainty", "drug pct."].map((h) => element("th", {}, h))));
  return element("div", {}, element("h3", {}, category), element("table", {}, head, body));
}

function radarPlot(axes) {
  const size = 260, centre = size / 2, radius = 90;
  const svg = svgElement("svg", { viewBox: `-70 0 ${size + 140} ${size}`, role: "img", "aria-label": "radar plot of key properties" });
  if (!axes.length) return svg;
  const point = (i, r) => {
    const angle = (Math.PI * 2 * i) / axes.length - Math.PI / 2;
    return [centre + r * Math.cos(angle), centre + r * Math.sin(angle)];
  };
  for (const level of [0.25, 0.5, 0.75, 1]) {
    svg.append(svgElement("polygon", { class: "grid", points: axes.map((_, i) => point(i, radius * level).join(",")).join(" ") }));
  }
  axes.forEach((axis, i) => {
    const [x, y] = point(i, radius);
    svg.append(svgElement("line", { x1: centre, y1: centre, x2: x, y2: y, class: "grid", stroke: "#dde2e7" }));
    const [lx, ly] = point(i, radius + 18);
    svg.append(svgElement("text", { x: lx, y: ly, "text-anchor": lx < centre - 5 ? "end" : lx > centre + 5 ? "start" : "middle" }, axis.axis));
  });
  svg.append(svgElement("polygon", { class: "shape", points: axes.map((a, i) => point(i, radius * a.score).join(",")).join(" ") }));
  return svg;
}

// ---------------------------------------------------------------- batch page
const POLL_MS = 500, JOBS_REFRESH_MS = 2000;
const isActive = (job) => job.status === "queued" || job.status === "running";

async function uploadBatch() {
  const file = $("#batch-file").files[0];
  const status = $("#batch-status");
  const bar = $("#batch-progress");
  const cancel = $("#batch-cancel");
  $("#batch-result").replaceChildren();
  if (!file) { status.textContent = "choose a file first"; status.className = "status error"; return; }
  let label = file.name;
  status.className = "status";
  status.textContent = `uploading ${label}…`;
  const form = new FormData();
  form.append("file", file);
  const column = $("#batch-smiles-column").value.trim();  // empty: the server looks for smiles, SMILES, Drug, ...
  if (column) form.append("smiles_column", column);
  try {
    let job = await (await api("/v1/jobs", { method: "POST", body: form })).json();
    label = `${job.filename} (job ${job.id})`;  // the id lets the user come back for the result
    loadJobs();
    bar.hidden = false;
    cancel.hidden = false;
    cancel.onclick = () => {
      if (confirm(`Cancel ${job.filename}?`)) withdrawJob(job.id).catch((error) => { status.textContent = `${label}: ${error.message}`; });
    };
    while (isActive(job)) {
      bar.value = job.progress;
      status.className = "status";
      status.textContent = `${label}: ${job.status}, ${job.done} of ${job.rows} molecules`;
      job = await nextJobState(job.id, (error, pause) => {
        status.className = "status error";
        status.textContent = `${label}: server unreachable (${error.message}); trying again in ${pause / 1000} s. The job carries on on the server.`;
      });
    }
    bar.value = job.progress;
    loadJobs();
    if (job.status !== "completed") throw new Error(`job ${job.status}: ${job.message}`);
    status.textContent = `${label}: completed, ${job.rows} molecules, ${job.errors} with errors`;
    $("#batch-result").replaceChildren(resultLink(job, "Download results (CSV)"));
  } catch (error) {
    status.textContent = `${label}: ${error.message}`;
    status.className = "status error";
  } finally {
    cancel.hidden = true;
  }
}

// The job's state after a pause. A restart or network outage is waited out with growing pauses (the job
// survives it on the server); a 4xx (job gone, key revoked) is final and thrown.
async function nextJobState(jobId, onOutage) {
  for (let pause = POLL_MS; ; pause = backoff(pause)) {
    await sleep(pause);
    try {
      return await (await api(`/v1/jobs/${jobId}`)).json();
    } catch (error) {
      if (!transient(error)) throw error;
      onOutage(error, backoff(pause));
    }
  }
}

// Results need the API key, which a plain link cannot send: fetched on click, then saved from memory.
function resultLink(job, text) {
  const link = element("a", { href: "#", class: "download" }, text);
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const url = URL.createObjectURL(await (await api(job.result)).blob());
      element("a", { href: url, download: `${job.filename.split(".")[0] || "molecules"}_admet.csv` }).click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      $("#batch-status").textContent = `download of ${job.filename} failed: ${error.message}`;
      $("#batch-status").className = "status error";
    }
  });
  return link;
}

let jobsTimer = null;
let jobsPause = JOBS_REFRESH_MS;

async function loadJobs() {
  const body = $("#jobs-table tbody");
  let again;
  try {
    const jobs = await (await api("/v1/jobs")).json();
    body.replaceChildren(...(jobs.length ? jobs.map(jobRow)
      : [element("tr", {}, element("td", { colspan: 7, class: "hint" }, "no jobs yet"))]));
    again = jobs.some(isActive);
    jobsPause = JOBS_REFRESH_MS;
  } catch (error) {
    body.replaceChildren(element("tr", {}, element("td", { colspan: 7, class: "error" }, error.message)));
    again = transient(error);
    jobsPause = backoff(jobsPause);
  }
  // At most one refresh pending, and none once the user has left the page.
  clearTimeout(jobsTimer);
  if (again && !$("#page-batch").hidden) jobsTimer = setTimeout(loadJobs, jobsPause);
}

// Cancel a queued or running job, or delete a finished job's files (the job stays listed, saying so).
async function withdrawJob(jobId) {
  await api(`/v1/jobs/${jobId}`, { method: "DELETE" });
  loadJobs();
}

function jobRow(job) {
  const outcome = job.status === "completed" ? resultLink(job, "download")
    : job.status === "failed" || job.status === "cancelled" || job.status === "deleted"
      ? element("span", { class: job.status === "failed" ? "error" : "hint" }, job.message || job.status) : "";
  let action = "";
  if (isActive(job) || job.status === "completed" || job.status === "failed") {
    action = element("button", { class: "withdraw" }, isActive(job) ? "cancel" : "delete");
    action.addEventListener("click", () => {
      const question = isActive(job) ? `Cancel ${job.filename}?` : `Delete the files of ${job.filename} from the server?`;
      if (confirm(question)) withdrawJob(job.id).catch((error) => { $("#batch-status").textContent = error.message; });
    });
  }
  return element("tr", { "data-job": job.id, title: `job ${job.id}` },
    element("td", {}, job.filename), element("td", {}, when(job.created)), element("td", { class: "job-status" }, job.status),
    element("td", { class: "num" }, `${job.done} / ${job.rows} (${Math.round(100 * job.progress)}%)`),
    element("td", { class: "num" }, job.errors), element("td", {}, outcome), element("td", {}, action));
}

// ---------------------------------------------------------------- models page
const score = (value) => typeof value === "number" ? value.toFixed(3) : String(value);

// A centralised version stores one validation score per endpoint (with its metric and how many molecules).
function endpointScores(metrics) {
  return Object.entries(metrics).slice(0, 40).map(([name, m]) => {
    const value = typeof m === "object" && m !== null ? (m.blend ?? m.value ?? Object.values(m)[0]) : m;
    const size = m && m.n ? ` (n=${m.n})` : "";  // a score on 58 molecules is not one on 5,000
    return `${name}: ${score(value)}${m && m.metric ? ` ${m.metric}` : ""}${size}`;
  }).join("; ");
}

// A federated version stores what each partner agreed to share after the last round, and the DP budget.
// A partner's key sees its own partner's scores and the consortium mean only.
function partnerScores(metrics, rounds) {
  const shared = (m, counts) => {  // counts: how many partners a mean is over
    const names = ["valid_score", "test_score"].filter((k) => typeof m[k] === "number");
    const over = (k) => counts ? ` (${counts[k]} partners)` : "";
    return names.length ? names.map((k) => `${k.replace("_score", "")} ${score(m[k])}${over(k)}`).join(", ") : "no score shared";
  };
  const partners = Object.entries(metrics.partners || {}).sort(([a], [b]) => a.localeCompare(b)).map(([name, m]) => `${name}: ${shared(m)}`);
  const { partners: counts, ...mean } = metrics.consortium_mean || {};
  if (counts) partners.push(`consortium mean: ${shared(mean, counts)}`);
  const privacy = typeof metrics.epsilon === "number" ? `DP ε = ${score(metrics.epsilon)}, δ = ${format(metrics.delta)}` : "no DP";
  const heading = `after round ${rounds ?? "?"} (each partner's mean over its own endpoints)`;
  return `${heading} — ${partners.length ? partners.join("; ") : "no partner shared a score"}; ${privacy}`;
}

async function loadModels() {
  const body = $("#models-table tbody");
  try {
    const versions = await (await api("/v1/models")).json();
    body.replaceChildren(...versions.map((v) => {
      const federated = v.kind === "federated";
      const metrics = federated ? partnerScores(v.metrics, v.lineage.rounds) : endpointScores(v.metrics);
      const lineage = Object.entries(v.lineage).map(([k, value]) => `${k}: ${Array.isArray(value) ? value.join(", ") : value}`).join("; ");
      // A federated version is the shared trunk only: the endpoint heads stay with the partners.
      const endpoints = federated && !v.endpoints.length
        ? element("span", { class: "trunk", title: "the shared trunk predicts no endpoint by itself; each partner keeps its own endpoint heads" }, "trunk only")
        : v.endpoints.length;
      return element("tr", { "data-version": v.id }, element("td", {}, v.model + (v.serving ? " (serving)" : "")), element("td", {}, v.version),
        element("td", {}, v.kind), element("td", {}, lineage), element("td", { class: "endpoints" }, endpoints),
        element("td", { class: "metrics" }, metrics), element("td", {}, when(v.created)));
    }));
  } catch (error) {
    body.replaceChildren(element("tr", {}, element("td", { colspan: 7, class: "error" }, error.message)));
  }
}

// ---------------------------------------------------------------- federation page
let federationRuns = [];
let selectedRun = null;

async function loadFederation() {
  const container = $("#runs");
  let total = 0;
  try {
    const response = await api("/v1/federation/runs");
    federationRuns = await response.json();
    total = Number(response.headers.get("X-Total-Count") ?? federationRuns.length);
  } catch (error) {
    container.replaceChildren(element("p", { class: "error" }, error.message));
    return;
  }
  if (!federationRuns.length) {
    $("#fed-controls").hidden = true;
    $("#fed-plot").replaceChildren();
    $("#fed-rounds").replaceChildren();
    container.replaceChildren(element("p", { class: "hint" }, "No federation runs yet; start one with ",
      element("code", {}, "fedadmet federate simulate prepared/*"), " (see the README for deployment across sites)."));
    return;
  }
  container.replaceChildren(...federationRuns.map(runSummary));
  const partner = federationRuns[0].visible_to_partner;
  if (partner) {
    container.prepend(element("p", { class: "hint", id: "fed-scope" }, `Your key belongs to partner ${partner}: you see its own shared metrics `
      + "and the consortium mean (where at least 3 partners reported); other partners' metrics are shown to the operator only."));
  }
  if (total > federationRuns.length) {
    container.append(element("p", { class: "hint" }, `the ${federationRuns.length} newest of ${total} runs; older ones: `,
      element("code", {}, "GET /v1/federation/runs?offset=…"), " or ", element("code", {}, "fedadmet federate status")));
  }
  selectRun(federationRuns.some((r) => r.id === selectedRun) ? selectedRun : federationRuns[0].id);
}

// One line per run; a failed run says why, and exclusions are counted (the rounds table says who and why).
function runSummary(run) {
  const partners = [...new Set(run.rounds.flatMap((r) => r.partners))];
  const exclusions = run.rounds.reduce((n, r) => n + Object.keys(r.excluded).length + r.excluded_hidden, 0);
  const aggregated = run.rounds.filter((r) => r.partners.length).length;  // a failed round is listed, not counted
  const facts = [`${run.strategy}${run.secagg ? " + SecAgg+" : ""}`, run.status, `${aggregated} round${aggregated === 1 ? "" : "s"}`];
  if (partners.length) facts.push(`partners: ${partners.join(", ")}`);
  if (exclusions) facts.push(`${exclusions} exclusion(s)`);
  const spent = run.rounds.findLast((r) => r.epsilon != null);  // a private run still going: the budget so far
  if (run.epsilon != null) facts.push(`DP ε ${run.epsilon.toFixed(2)}`);
  else if (spent) facts.push(`DP ε ${spent.epsilon.toFixed(2)} after round ${spent.round}`);
  const node = element("div", { class: "run", "data-run": run.id }, `#${run.id} ${run.name} — ${facts.join(", ")}`);
  if (run.error) node.append(element("div", { class: "error run-error" }, `error: ${run.error}`));
  node.addEventListener("click", () => selectRun(run.id));
  return node;
}

function selectRun(runId) {
  selectedRun = runId;
  document.querySelectorAll(".run").forEach((n) => n.classList.toggle("selected", Number(n.dataset.run) === runId));
  const run = federationRuns.find((r) => r.id === runId);
  const metricNames = new Set();
  for (const r of run.rounds) for (const [, m] of roundSeries(r)) {
    for (const [k, v] of Object.entries(m)) if (typeof v === "number") metricNames.add(k);
  }
  $("#fed-controls").hidden = !metricNames.size;  // a run without metrics yet has nothing to choose
  const select = $("#fed-metric");
  const previous = select.value;
  select.replaceChildren(...[...metricNames].sort().map((m) => element("option", { value: m }, m)));
  select.value = metricNames.has(previous) ? previous : metricNames.has("valid_score") ? "valid_score" : select.value;
  plotRun(run, select.value);
  $("#fed-rounds").replaceChildren(...roundsTable(run));
}

// Per round: whose updates were aggregated, and who was excluded (or dropped out) with the reason.
function roundsTable(run) {
  if (!run.rounds.length) return [element("p", { class: "hint" }, "no round was aggregated")];
  const privateRun = run.rounds.some((r) => r.epsilon != null);
  const rows = run.rounds.map((r) => {
    const excluded = Object.entries(r.excluded).map(([partner, why]) => element("div", {}, `${partner}: ${why}`));
    if (r.excluded_hidden) excluded.push(element("div", {}, `${r.excluded_hidden} other partner(s), reasons shown to the operator`));
    return element("tr", { "data-round": r.round }, element("td", { class: "num" }, r.round),
      element("td", {}, r.partners.length ? r.partners.join(", ") : "none: the trunk stayed as it was"),
      element("td", { class: excluded.length ? "excluded error" : "excluded" }, ...(excluded.length ? excluded : ["none"])),
      element("td", { class: "num" }, r.bytes_sent == null ? "–" : r.bytes_sent.toLocaleString()),
      ...(privateRun ? [element("td", { class: "num epsilon" }, r.epsilon != null ? r.epsilon.toFixed(2) : "–")] : []));
  });
  const headings = ["round", "aggregated", "excluded (why)", "bytes sent", ...(privateRun ? ["DP ε so far"] : [])];
  const head = element("thead", {}, element("tr", {}, ...headings.map((h) => element("th", {}, h))));
  return [element("table", {}, head, element("tbody", {}, ...rows))];
}

const PLOT_COLOURS = ["#1d6fa5", "#c93c3c", "#2e9d4a", "#e0a21b", "#7b4ea3", "#3aa6a6", "#8a5a2b"];

const CONSORTIUM_MEAN = "consortium mean";

// One round's plottable metrics by line (each partner shown, and the consortium mean), over its stages.
function roundSeries(r) {
  const lines = [];
  for (const phase of Object.values(r.metrics)) lines.push(...Object.entries(phase));
  for (const { partners, ...mean } of Object.values(r.consortium_mean)) lines.push([CONSORTIUM_MEAN, mean]);  // partners: a count
  return lines;
}

function plotRun(run, metric) {
  const series = {};
  for (const r of run.rounds) for (const [line, m] of roundSeries(r)) {
    if (typeof m[metric] === "number") (series[line] ||= []).push([r.round, m[metric]]);
  }
  const width = 720, height = 320, pad = 48;
  const svg = svgElement("svg", { width, height, role: "img", "aria-label": `${metric} per partner over rounds` });
  const points = Object.values(series).flat();
  if (!points.length) { $("#fed-plot").replaceChildren(element("p", { class: "hint" }, "no shared metric to plot")); return; }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys) === Math.min(...ys) ? Math.min(...ys) + 1 : Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  svg.append(svgElement("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#52606d" }));
  svg.append(svgElement("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, stroke: "#52606d" }));
  svg.append(svgElement("text", { x: width / 2, y: height - 12, "text-anchor": "middle", "font-size": 12 }, "round"));
  svg.append(svgElement("text", { x: 12, y: pad - 16, "font-size": 12 }, metric));
  for (const y of [y0, (y0 + y1) / 2, y1]) svg.append(svgElement("text", { x: pad - 6, y: sy(y) + 4, "text-anchor": "end", "font-size": 10 }, format(y)));
  // The legend is HTML below the plot: it wraps, so long partner names are never cut off at the plot's edge.
  const legend = element("div", { class: "legend plot-legend" });
  let colours = 0;  // partners keep their colours whether or not a mean is drawn
  Object.entries(series).sort(([a], [b]) => a.localeCompare(b)).forEach(([partner, values]) => {
    values.sort((a, b) => a[0] - b[0]);
    const mean = partner === CONSORTIUM_MEAN;
    const colour = mean ? "#52606d" : PLOT_COLOURS[colours++ % PLOT_COLOURS.length];
    svg.append(svgElement("polyline", { fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": mean ? "6 4" : "none",
      points: values.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") }));
    legend.append(element("span", { "data-partner": partner }, element("i", { class: "swatch", style: `background: ${colour}` }), partner));
  });
  $("#fed-plot").replaceChildren(svg, legend);
}

// ---------------------------------------------------------------- patients page
let reportImageUrl = null;  // object URL of the shown report's evaluation.png, revoked when another is shown

async function loadReports() {
  const status = $("#reports-status");
  try {
    const reports = await (await api("/v1/clinical/reports")).json();
    $("#reports-table tbody").replaceChildren(...reports.map((r) => {
      const row = element("tr", { class: "report", "data-report": r.name },
        element("td", {}, r.name), element("td", {}, when(r.created)),
        element("td", { class: "num" }, r.metrics.n), element("td", { class: "num" }, r.metrics.events),
        element("td", { class: "num" }, auroc(r.metrics)), element("td", { class: "num" }, r.metrics.brier.toFixed(4)));
      row.addEventListener("click", () => showReport(r.name));
      return row;
    }));
    status.className = "status";
    status.textContent = reports.length ? "click a report to see it" : "no reports yet: run `fedadmet clinical train --report <folder>`";
  } catch (error) {
    status.textContent = error.message;
    status.className = "status error";
  }
}

const auroc = (m) => `${m.auroc.toFixed(3)} (${m.auroc_low.toFixed(3)}–${m.auroc_high.toFixed(3)})`;

async function showReport(name) {
  const status = $("#reports-status");
  try {
    const path = `/v1/clinical/reports/${encodeURIComponent(name)}`;
    const [report, image] = await Promise.all([
      api(path).then((response) => response.json()), api(`${path}/evaluation.png`).then((response) => response.blob()),
    ]);
    document.querySelectorAll("#reports-table tr.report").forEach((r) => r.classList.toggle("selected", r.dataset.report === name));
    $("#report-title").textContent = `${report.name} — ${report.title}`;
    const m = report.metrics;
    const rows = [
      ["patients (with the outcome)", `${m.n} (${m.events})`], ["AUROC (95 % CI)", auroc(m)], ["AUPRC", m.auprc.toFixed(3)],
      ["Brier score", m.brier.toFixed(4)], ["calibration intercept", m.calibration_intercept.toFixed(3)],
      ["calibration slope", m.calibration_slope.toFixed(3)],
    ];
    $("#report-metrics tbody").replaceChildren(...rows.map(([label, value]) => element("tr", {}, element("th", {}, label), element("td", { class: "num" }, value))));
    $("#report-covariates tbody").replaceChildren(...report.top_covariates.map((c) =>
      element("tr", {}, element("td", {}, c.covariate), element("td", { class: "num" }, c.coefficient.toFixed(3)))));
    if (reportImageUrl) URL.revokeObjectURL(reportImageUrl);
    reportImageUrl = URL.createObjectURL(image);
    $("#report-image").src = reportImageUrl;
    $("#clinical-report").hidden = false;
  } catch (error) {
    status.textContent = error.message;
    status.className = "status error";
  }
}

// ---------------------------------------------------------------- navigation
function show(page) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.page === page));
  document.querySelectorAll(".page").forEach((s) => { s.hidden = s.id !== `page-${page}`; });
  if (page === "batch") loadJobs();
  if (page === "models") loadModels();
  if (page === "federation") loadFederation();
  if (page === "patients") loadReports();
  PAGE_LOADERS[page]?.();
}

document.addEventListener("DOMContentLoaded", async () => {
  const keyInput = $("#api-key");
  keyInput.value = apiKey();
  keyInput.addEventListener("change", () => localStorage.setItem("fedadmet-key", keyInput.value.trim()));
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.page)));
  $("#profile-button").addEventListener("click", profile);
  setupProfileExtras();  // table.js: endpoint checkboxes, ATC classes
  setupEditor();  // editor.js
  $("#batch-button").addEventListener("click", uploadBatch);
  $("#fed-metric").addEventListener("change", () => plotRun(federationRuns.find((r) => r.id === selectedRun), $("#fed-metric").value));
  try {
    const limits = await (await api("/v1/limits")).json();
    $("#max-molecules").textContent = limits.max_molecules_per_request;
  } catch (_) { /* shown on first use */ }
});
