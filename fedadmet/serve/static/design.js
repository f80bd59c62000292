// Design page: a design run's best molecules with depictions, their profiles beside the starting
// molecules', and the score over generations. Reads /v1/design/runs and profiles through /v1/predict.
"use strict";

const DESIGN_BEST = 6;  // molecules shown and profiled
const DESIGNED = ["selected", "kept"];  // candidates that met every hard constraint

let designRuns = [];

async function loadDesign() {
  const list = $("#design-runs");
  try {
    designRuns = await (await api("/v1/design/runs")).json();
  } catch (error) {
    list.replaceChildren(element("p", { class: "error" }, error.message));
    return;
  }
  if (!designRuns.length) {
    $("#design-run").hidden = true;
    list.replaceChildren(element("p", { class: "hint" }, "No design runs for this key yet; start one with ",
      element("code", {}, "fedadmet design run --start seeds.csv --objective objective.toml --budget 500"),
      " or POST /v1/design/runs."));
    return;
  }
  list.replaceChildren(...designRuns.map((run) => {
    const node = element("div", { class: "run design-run", "data-run": run.id },
      `#${run.id} ${run.name || "(unnamed)"} — ${run.status}, budget ${run.budget}, seed ${run.seed}, ${when(run.created)}`);
    if (run.message) node.append(element("div", { class: run.status === "failed" ? "error run-error" : "hint" }, run.message));
    node.addEventListener("click", () => showDesign(run.id));
    return node;
  }));
  const shown = Number($("#design-run").dataset.run);
  showDesign(designRuns.some((r) => r.id === shown) ? shown : designRuns[0].id);
}

// The best designed molecules, each once, best first.
function bestDesigned(run) {
  const seen = new Set();
  return run.generations.flatMap((g) => g.candidates)
    .filter((c) => DESIGNED.includes(c.status) && c.score !== null)
    .sort((a, b) => b.score - a.score || a.smiles.localeCompare(b.smiles))
    .filter((c) => !seen.has(c.smiles) && seen.add(c.smiles))
    .slice(0, DESIGN_BEST);
}

// Per generation: the best score found so far (start molecules included) and the population's mean.
function scoreSeries(run) {
  let best = -Infinity;
  const bestSoFar = [], population = [];
  for (const g of run.generations) {
    for (const c of g.candidates) {
      if ((c.status === "start" || DESIGNED.includes(c.status)) && c.score !== null) best = Math.max(best, c.score);
    }
    if (Number.isFinite(best)) bestSoFar.push([g.number, best]);
    if (g.population.length) population.push([g.number, g.population.reduce((s, m) => s + m.score, 0) / g.population.length]);
  }
  return { "best so far": bestSoFar, "population mean": population };
}

async function showDesign(runId) {
  const article = $("#design-run");
  article.dataset.run = runId;
  document.querySelectorAll(".design-run").forEach((n) => n.classList.toggle("selected", Number(n.dataset.run) === runId));
  const status = $("#design-status");
  status.className = "status";
  status.textContent = "loading the run…";
  let run;
  try {
    run = await (await api(`/v1/design/runs/${runId}`)).json();
  } catch (error) {
    status.className = "status error";
    status.textContent = error.message;
    return;
  }
  article.hidden = false;
  const goals = (run.objective.goal || []).map((g) => g.endpoint);
  $("#design-title").textContent = `#${run.id} ${run.name || ""} — ${run.status}, ${run.budget_used} of ${run.budget} molecules profiled, `
    + `${Math.max(0, run.generations.length - 1)} generation(s); goals: ${goals.join(", ") || "none"}`;
  const series = scoreSeries(run);
  $("#design-plot").replaceChildren(series["best so far"].length
    ? linePlot(series, { xLabel: "generation", yLabel: "score", label: "design score over generations", dashed: ["population mean"] })
    : element("p", { class: "hint" }, "no scored molecule yet"));
  const best = bestDesigned(run);
  const starts = run.generations.length ? run.generations[0].candidates.filter((c) => c.status === "start") : [];
  if (!best.length) {
    $("#design-best").replaceChildren(element("p", { class: "hint" }, "no designed molecule met every hard constraint yet"));
    $("#design-profiles").replaceChildren();
    status.textContent = "";
    return;
  }
  status.textContent = `profiling ${starts.length + best.length} molecules…`;
  try {
    const smiles = [...starts.map((c) => c.smiles), ...best.map((c) => c.smiles)];
    const result = await (await api("/v1/predict", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ smiles, depict: true }),
    })).json();
    const profiles = result.molecules;
    $("#design-best").replaceChildren(...best.map((c, i) => designCard(c, profiles[starts.length + i], i + 1)));
    $("#design-profiles").replaceChildren(profileComparison(starts, best, profiles, goals));
    status.textContent = "";
  } catch (error) {
    status.className = "status error";
    status.textContent = error.message;
  }
}

function designCard(candidate, profiled, rank) {
  const depiction = element("div", { class: "depiction" });
  depiction.innerHTML = profiled.svg || "";  // RDKit's SVG, made by our own server
  const d = candidate.details;
  const facts = [
    `score ${format(candidate.score)} (${format(candidate.score_low)} – ${format(candidate.score_high)})`,
    `Tanimoto to start ${format(d.similarity)}`,
    `SA ${format(d.sa_score)}`,
    d.in_domain === false ? "outside the applicability domain" : "in domain",
    `generation ${candidate.generation}, ${candidate.operator}`,
  ];
  return element("article", { class: "design-molecule", "data-smiles": candidate.smiles },
    element("h3", {}, `${rank}. ${candidate.smiles}`), depiction,
    element("ul", {}, ...facts.map((f) => element("li", {}, f))),
    element("div", { class: "hint" }, candidate.reason));
}

// Rows: endpoints (the objective's goals first); columns: each starting molecule, then the designs.
function profileComparison(starts, best, profiles, goals) {
  const columns = [...starts.map((_, i) => `start ${i + 1}`), ...best.map((_, i) => `design ${i + 1}`)];
  const names = profiles.find((p) => !p.error)?.endpoints.map((e) => e.name) || [];
  const ordered = [...goals.filter((g) => names.includes(g)), ...names.filter((n) => !goals.includes(n))];
  const value = (profile, name) => {
    const e = profile.error ? null : profile.endpoints.find((x) => x.name === name);
    if (!e) return element("td", { class: "num" }, "–");
    const shown = e.task === "classification" ? formatProbability(e.value) : format(e.value);
    return element("td", { class: `num light-${e.traffic_light}`, title: e.traffic_light }, element("i", { class: `dot ${e.traffic_light}` }), shown);
  };
  const head = element("thead", {}, element("tr", {}, element("th", {}, "endpoint"), ...columns.map((c) => element("th", {}, c))));
  const body = element("tbody", {}, ...ordered.map((name) => element("tr", { "data-endpoint": name, class: goals.includes(name) ? "goal" : "" },
    element("td", {}, goals.includes(name) ? `${name} (goal)` : name), ...profiles.map((p) => value(p, name)))));
  return element("table", { class: "profile-comparison" }, head, body);
}

PAGE_LOADERS.design = loadDesign;
