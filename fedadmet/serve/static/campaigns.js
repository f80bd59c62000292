// Campaign page: create a campaign from a pool file, propose rounds, take in the lab's results, and see the
// best-so-far curve, the Pareto front of the objectives, the calibration of the surrogate's uncertainty and
// the picks with depictions. Reads and writes /v1/campaigns.
"use strict";

const SPEC_EXAMPLE = {
  objective: { terms: [{ column: "pIC50", goal: "maximize", low: 5, high: 8 }, { column: "LogD", goal: "within", low: 1, high: 3 }] },
  strategy: "greedy",
  batch_size: 12,
};
const CALIBRATION_STEPS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3];  // interval half-widths in predicted sd

let campaignShown = null;

async function loadCampaigns() {
  const spec = $("#campaign-spec");
  if (!spec.value) spec.value = JSON.stringify(SPEC_EXAMPLE, null, 1);
  const list = $("#campaign-list");
  let campaigns;
  try {
    campaigns = await (await api("/v1/campaigns")).json();
  } catch (error) {
    list.replaceChildren(element("p", { class: "error" }, error.message));
    return;
  }
  list.replaceChildren(...(campaigns.length ? campaigns.map((c) => {
    const node = element("div", { class: "run campaign", "data-campaign": c.name },
      `${c.name} — pool ${c.pool_size}, ${c.rounds} round(s), strategy ${c.spec.strategy}${c.partner ? `, partner ${c.partner}` : ""}`);
    node.addEventListener("click", () => showCampaign(c.name));
    return node;
  }) : [element("p", { class: "hint" }, "No campaigns for this key yet: create one below, or with `fedadmet campaign create`.")]));
  if (campaignShown && campaigns.some((c) => c.name === campaignShown)) showCampaign(campaignShown);
}

function campaignMessage(text, error = false) {
  const status = $("#campaign-status");
  status.className = error ? "status error" : "status";
  status.textContent = text;
}

// A pool CSV with a compound_id (or id, name) column and a smiles column; commas inside fields are not expected.
function parsePool(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = lines[0].split(",").map((h) => h.trim().toLowerCase());
  const id = ["compound_id", "id", "name", "molecule name"].map((n) => header.indexOf(n)).find((i) => i >= 0);
  const smiles = header.indexOf("smiles");
  if (id === undefined || smiles < 0) throw new Error(`the pool file needs compound_id and smiles columns; it has ${header.join(", ")}`);
  return lines.slice(1).map((line) => {
    const cells = line.split(",");
    return { compound_id: cells[id].trim(), smiles: cells[smiles].trim() };
  });
}

async function createCampaign() {
  const file = $("#campaign-pool").files[0];
  const name = $("#campaign-name").value.trim();
  try {
    if (!name || !file) throw new Error("give the campaign a name and choose a pool file");
    const body = { name, spec: JSON.parse($("#campaign-spec").value), pool: parsePool(await file.text()) };
    campaignMessage(`creating ${name} (featurising ${body.pool.length} molecules)…`);
    const created = await (await api("/v1/campaigns", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })).json();
    const rejected = created.pool_rejects.length ? `; ${created.pool_rejects.length} pool row(s) left out` : "";
    campaignMessage(`created ${created.name}: ${created.pool_size} molecules${rejected}`);
    campaignShown = created.name;
    await loadCampaigns();
  } catch (error) {
    campaignMessage(error.message, true);
  }
}

async function proposeRound() {
  try {
    campaignMessage("fitting the surrogate and picking the next batch…");
    const round = await (await api(`/v1/campaigns/${encodeURIComponent(campaignShown)}/propose`, { method: "POST" })).json();
    campaignMessage(`round ${round.round}: ${round.picks.length} picks (order file: ${round.order_files.join(", ")})`);
    await showCampaign(campaignShown);
  } catch (error) {
    campaignMessage(error.message, true);
  }
}

async function uploadResults() {
  const file = $("#campaign-results").files[0];
  if (!file) { campaignMessage("choose a results file (compound_id, endpoint, value[, unit, relation])", true); return; }
  const form = new FormData();
  form.append("file", file);
  try {
    const outcome = await (await api(`/v1/campaigns/${encodeURIComponent(campaignShown)}/results`, { method: "POST", body: form })).json();
    const rejects = outcome.rejects.map((r) => `row ${r.row}: ${r.reason}`).join("; ");
    campaignMessage(`${outcome.filename}: ${outcome.stored} value(s) stored of ${outcome.rows} row(s)${rejects ? `; rejected ${rejects}` : ""}`,
      outcome.rejects.length > 0);
    await showCampaign(campaignShown);
  } catch (error) {
    campaignMessage(error.message, true);
  }
}

async function showCampaign(name) {
  campaignShown = name;
  document.querySelectorAll(".campaign").forEach((n) => n.classList.toggle("selected", n.dataset.campaign === name));
  let progress;
  try {
    progress = await (await api(`/v1/campaigns/${encodeURIComponent(name)}/progress`)).json();
  } catch (error) {
    campaignMessage(error.message, true);
    return;
  }
  const view = $("#campaign-view");
  view.hidden = false;
  $("#campaign-title").textContent = `${progress.name} — pool ${progress.pool_size}, ${progress.rounds} round(s), `
    + `${progress.compounds.length} compound(s) measured, strategy ${progress.spec.strategy}`;
  $("#campaign-best").replaceChildren(bestSoFarChart(progress));
  $("#campaign-pareto").replaceChildren(paretoChart(progress));
  $("#campaign-calibration").replaceChildren(calibrationChart(progress));
  $("#campaign-picks").replaceChildren(picksTable(progress));
}

function bestSoFarChart(progress) {
  const points = progress.best_after_ingest.filter((p) => p.best !== null).map((p) => [p.measured_compounds, p.best]);
  if (!points.length) return element("p", { class: "hint" }, "no results taken in yet: the curve starts with the first results file");
  return element("div", {}, element("h3", {}, "Best measured score after each results file"),
    linePlot({ "best so far": points }, { xLabel: "compounds measured", yLabel: "best score", label: "best score so far" }));
}

function paretoChart(progress) {
  const terms = progress.terms;
  if (terms.length < 2) return element("p", { class: "hint" }, "one objective term: no trade-off to draw (the best-so-far curve is the front)");
  const [a, b] = [terms[0].column, terms[1].column];
  const points = progress.compounds.filter((c) => c.desirability[a] !== null && c.desirability[b] !== null).map((c) => ({
    x: c.desirability[a], y: c.desirability[b], className: c.pareto ? "front" : "",
    title: `${c.compound_id}: ${a} ${format(c.values[a])}, ${b} ${format(c.values[b])}, score ${format(c.score)}${c.pareto ? " (Pareto front)" : ""}`,
  }));
  if (!points.length) return element("p", { class: "hint" }, `no compound has both ${a} and ${b} measured yet`);
  const front = points.filter((p) => p.className === "front").map((p) => [p.x, p.y]).sort((p, q) => p[0] - q[0]);
  const others = terms.length > 2 ? ` (front over all ${terms.length} terms)` : "";
  return element("div", {}, element("h3", {}, `Pareto front of the objectives: desirability of ${a} and ${b}${others}`),
    scatterPlot(points, { xLabel: `${a} desirability`, yLabel: `${b} desirability`, label: "Pareto front", line: front, lineName: "front" }));
}

// Abramowitz & Stegun 7.1.26 (error below 1.5e-7): the share of a normal within ±k sd is erf(k / √2).
function erf(x) {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return Math.sign(x) * y;
}

// Observed share of measured picks within ±k predicted sd against the share a calibrated normal would have.
function calibrationChart(progress) {
  const z = progress.picks.flatMap((p) => Object.entries(p.measured)
    .filter(([column, value]) => value !== null && p.predicted[column] && p.predicted[column].std > 0)
    .map(([column, value]) => Math.abs(value - p.predicted[column].mean) / p.predicted[column].std));
  if (!z.length) return element("p", { class: "hint" }, "no measured pick yet: calibration shows once results for picks come back");
  const points = CALIBRATION_STEPS.map((k) => ({ x: erf(k / Math.SQRT2), y: z.filter((v) => v <= k).length / z.length,
    title: `±${k} sd: expected ${erf(k / Math.SQRT2).toFixed(2)}, observed ${(z.filter((v) => v <= k).length / z.length).toFixed(2)}` }));
  return element("div", {}, element("h3", {}, `Calibration of the surrogate's uncertainty (${z.length} measured pick value(s))`),
    scatterPlot(points, { xLabel: "expected share within ±k sd", yLabel: "observed share", label: "uncertainty calibration",
      line: [[0, 0], [1, 1]], lineName: "calibrated" }));
}

function picksTable(progress) {
  const columns = progress.terms.map((t) => t.column);
  const head = element("thead", {}, element("tr", {}, ...["round", "rank", "compound", "structure", "predicted score",
    ...columns.map((c) => `${c} predicted / measured`), "why picked"].map((h) => element("th", {}, h))));
  const body = element("tbody", {}, ...progress.picks.map((p) => {
    const depiction = element("td", { class: "depiction" });
    depiction.innerHTML = p.svg || "";  // RDKit's SVG, made by our own server
    const cells = columns.map((c) => {
      const predicted = p.predicted[c] && p.predicted[c].mean !== null ? `${format(p.predicted[c].mean)} ± ${format(p.predicted[c].std)}` : "–";
      return element("td", { class: "num" }, `${predicted} / ${format(p.measured[c])}`);
    });
    return element("tr", { "data-compound": p.compound_id }, element("td", {}, p.round), element("td", {}, p.rank),
      element("td", {}, p.compound_id), depiction, element("td", { class: "num" }, `${format(p.score_mean)} ± ${format(p.score_std)}`),
      ...cells, element("td", {}, p.reason));
  }));
  const note = progress.picks_total > progress.picks.length ? `the newest ${progress.picks.length} of ${progress.picks_total} picks; ` : "";
  return element("div", {}, element("h3", {}, "Picks"),
    element("p", { class: "hint" }, `${note}predicted (mean ± sd) and measured values on the model scale: log10(value + 1) for log-scale terms`),
    element("table", { class: "picks" }, head, body));
}

PAGE_LOADERS.campaigns = loadCampaigns;
document.addEventListener("DOMContentLoaded", () => {
  $("#campaign-create").addEventListener("click", createCampaign);
  $("#campaign-propose").addEventListener("click", proposeRound);
  $("#campaign-upload").addEventListener("click", uploadResults);
});
