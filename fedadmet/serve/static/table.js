// fedadmet web page, Profile view: the many-molecule table, endpoint choice, ATC classes for percentiles, and the
// physicochemical properties and rules on each card. Plain JavaScript; uses element(), format(), api() of app.js.
"use strict";

const CARDS_SHOWN = 10;  // more molecules than this: the table only, and a molecule's card when its row is clicked
const ROW_HEIGHT = 24;  // px, fixed (style.css), so that only the rows in view are in the DOM
const ROW_OVERSCAN = 12;

let lastProfile = null;  // { molecules, names, info } of the latest /v1/predict answer
let propertyInfo = null;  // GET /v1/properties: what each property is, each rule's limits
let chosenEndpoints = null;  // Set of endpoint names shown; null: all (until the endpoint list is known)

async function loadPropertyInfo() {
  propertyInfo ??= await (await api("/v1/properties")).json();
  return propertyInfo;
}

// ---------------------------------------------------------------- endpoint checkboxes
function setupEndpointChooser(info) {
  const boxes = $("#endpoint-boxes");
  if (boxes.childElementCount) return;
  chosenEndpoints ??= new Set(Object.keys(info));
  for (const category of CATEGORIES) {
    const names = Object.values(info).filter((e) => e.category === category).map((e) => e.name);
    if (!names.length) continue;
    boxes.append(element("fieldset", {}, element("legend", {}, category), ...names.map((name) => {
      const box = element("input", { type: "checkbox", value: name, "data-endpoint": name });
      box.checked = chosenEndpoints.has(name);
      box.addEventListener("change", () => {
        if (box.checked) chosenEndpoints.add(name); else chosenEndpoints.delete(name);
        endpointsChanged();
      });
      return element("label", { title: info[name].description }, box, name);
    })));
  }
  const setAll = (on) => {
    boxes.querySelectorAll("input").forEach((box) => { box.checked = on; });
    chosenEndpoints = new Set(on ? Object.keys(info) : []);
    endpointsChanged();
  };
  $("#endpoints-all").addEventListener("click", () => setAll(true));
  $("#endpoints-none").addEventListener("click", () => setAll(false));
  $("#endpoint-count").textContent = `${chosenEndpoints.size} of ${Object.keys(info).length}`;
}

// Unticking hides at once; ticking one the last profile did not compute profiles again.
function endpointsChanged() {
  $("#endpoint-count").textContent = `${chosenEndpoints.size} of ${$("#endpoint-boxes").querySelectorAll("input").length}`;
  if (!lastProfile) return;
  const computed = new Set(lastProfile.molecules.flatMap((m) => (m.endpoints || []).map((e) => e.name)));
  if (computed.size && [...chosenEndpoints].some((name) => !computed.has(name))) profile(); else renderProfiles();
}

// What /v1/predict is asked for: the endpoints ticked, or all (null) when all or none are.
function requestedEndpoints() {
  const all = $("#endpoint-boxes").querySelectorAll("input").length;
  return chosenEndpoints && chosenEndpoints.size && chosenEndpoints.size < all ? [...chosenEndpoints] : null;
}

const shownEndpoints = (molecule) => molecule.endpoints.filter((e) => !chosenEndpoints || chosenEndpoints.has(e.name));

// ---------------------------------------------------------------- ATC classes for the approved-drug percentiles
async function loadAtcClasses() {
  const select = $("#atc-class");
  if (select.options.length > 1) return;
  const classes = await (await api("/v1/reference/atc?limit=500")).json();  // all of them (~80)
  select.append(...classes.map((c) => element("option", { value: c.code },
    `${c.code.length > 1 ? "\u2003" : ""}${c.code} ${c.name ? c.name.toLowerCase() : ""} (${c.drugs})`)));
  select.addEventListener("change", () => { if (lastProfile) profile(); });  // percentiles are the server's
}

const percentileReference = (reference) => reference && reference.atc
  ? `percentiles among the ${reference.drugs} approved drugs of ATC ${reference.atc}${reference.name ? ` (${reference.name.toLowerCase()})` : ""}`
  : "percentiles among all approved drugs";

// ---------------------------------------------------------------- cards: physicochemical properties and rules
function propertiesBlock(molecule) {
  const about = Object.fromEntries((propertyInfo?.properties || []).map((p) => [p.name, p]));
  const rules = Object.fromEntries((propertyInfo?.rules || []).map((r) => [r.name, r.statement]));
  const values = element("tbody", {}, ...molecule.properties.map((p) => element("tr", { "data-property": p.name },
    element("td", { class: "name", title: about[p.name]?.description || "" }, p.label),
    element("td", { class: "num" }, p.value === null ? "–" : Number.isInteger(p.value) ? p.value : p.value.toFixed(2)),
    element("td", {}, p.unit))));
  const verdicts = element("tbody", {}, ...molecule.rules.map((r) => element("tr", { "data-rule": r.name },
    element("td", { class: "name", title: rules[r.name] || "" },
      element("i", { class: `dot ${r.passed ? "green" : "red"}` }), r.name.replace(/_(\d+)_(\d+)$/, " $1/$2").replaceAll("_", " ")),
    element("td", { class: "verdict" }, r.passed ? "pass" : "fail"),
    element("td", { class: "violations" }, r.violations.join("; ")))));
  return element("div", { class: "physchem" },
    element("div", {}, element("h3", {}, "Physicochemical"), element("table", {}, values)),
    element("div", {}, element("h3", {}, "Rules (point at one for its limits)"), element("table", {}, verdicts)));
}

// ---------------------------------------------------------------- results: the table and the cards
function renderProfiles() {
  const { molecules, names, info } = lastProfile;
  const shown = molecules.map((m) => m.endpoints ? Object.assign({}, m, { endpoints: shownEndpoints(m) }) : m);
  const container = $("#profiles");
  if (molecules.length > 1) {
    profileTable.show(shown, names, info, (index) => showCard(shown, names, info, index));
  } else {
    profileTable.clear();
  }
  if (molecules.length <= CARDS_SHOWN) {
    container.replaceChildren(...shown.map((m, i) => Object.assign(moleculeCard(m, names[i], info), { id: `card-${i}` })));
  } else if (lastProfile.selected !== undefined) {
    container.replaceChildren();
    showCard(shown, names, info, lastProfile.selected);  // the card clicked last stays, with the endpoints chosen now
  } else {
    container.replaceChildren(element("p", { class: "hint" }, "click a row for the molecule's full profile"));
  }
}

function showCard(molecules, names, info, index) {
  lastProfile.selected = index;
  let card = document.getElementById(`card-${index}`);
  if (!card) {
    card = Object.assign(moleculeCard(molecules[index], names[index], info), { id: `card-${index}` });
    $("#profiles").replaceChildren(card);
  }
  document.querySelectorAll(".molecule.selected").forEach((c) => c.classList.remove("selected"));
  card.classList.add("selected");
  card.scrollIntoView({ block: "start" });
}

// One row per molecule, the chosen endpoints as columns; sorted and filtered over an index, and only the rows in
// view are in the DOM, so that 1,000 molecules sort and filter at once.
const profileTable = (() => {
  let rows = [];  // { index, name, molecule }
  let columns = [];
  let order = [];  // indices into rows, filtered and sorted
  let sortBy = null, descending = false;
  let onSelect = () => {};
  let tip = null;  // the depiction shown beside the pointer

  function columnsFor(molecule, info) {
    const fixed = [
      { key: "row", label: "#", value: (r) => r.index + 1 },
      { key: "name", label: "name", value: (r) => r.name || "" },
      { key: "smiles", label: "SMILES", value: (r) => r.molecule.smiles || r.molecule.input || "" },
    ];
    const physchem = (molecule.properties || []).filter((p) => ["molecular_weight", "logP", "tpsa", "QED", "synthetic_accessibility"].includes(p.name))
      .map((p) => ({ key: p.name, label: p.label, numeric: true, value: (r) => propertyValue(r.molecule, p.name),
        text: (r) => format(propertyValue(r.molecule, p.name)) }));
    const rules = { key: "rules", label: "rules", numeric: true, title: "rules passed (Lipinski, Veber, Pfizer 3/75, GSK 4/400, Golden Triangle)",
      value: (r) => r.molecule.rules ? r.molecule.rules.filter((x) => x.passed).length : null,
      text: (r) => r.molecule.rules ? `${r.molecule.rules.filter((x) => x.passed).length}/${r.molecule.rules.length}` : "" };
    const endpoints = (molecule.endpoints || []).map((e, position) => ({
      key: e.name, label: e.name, numeric: true, endpoint: true, title: info[e.name] ? `${info[e.name].description}\ntraffic light: ${info[e.name].thresholds}` : "",
      value: (r) => r.molecule.endpoints ? r.molecule.endpoints[position].value : null,
      light: (r) => r.molecule.endpoints ? r.molecule.endpoints[position].traffic_light : null,
      text: (r) => { const v = r.molecule.endpoints ? r.molecule.endpoints[position].value : null; return e.task === "classification" ? formatProbability(v) : format(v); },
    }));
    return [...fixed, ...physchem, rules, ...endpoints];
  }

  const propertyValue = (molecule, name) => molecule.properties ? molecule.properties.find((p) => p.name === name).value : null;

  function show(molecules, names, info, select) {
    onSelect = select;
    rows = molecules.map((molecule, index) => ({ index, name: names[index], molecule }));
    const template = molecules.find((m) => m.endpoints) || molecules[0];
    columns = columnsFor(template, info);
    if (!columns.some((c) => c.key === sortBy)) { sortBy = null; descending = false; }
    build();
    refresh();
  }

  function clear() {
    rows = [];
    $("#profile-table").replaceChildren();
  }

  function build() {
    const lightEndpoint = element("select", { id: "table-light-endpoint" }, element("option", { value: "" }, "any endpoint"),
      ...columns.filter((c) => c.endpoint).map((c) => element("option", { value: c.key }, c.key)));
    const light = element("select", { id: "table-light" }, ...[["", "any light"], ["green", "green"], ["amber", "amber"], ["red", "red"], ["not-red", "not red"]]
      .map(([value, text]) => element("option", { value }, text)));
    const text = element("input", { id: "table-filter", type: "search", placeholder: "name or SMILES contains…", size: 24 });
    const download = element("button", { id: "table-download" }, "Download this view (CSV)");
    for (const control of [lightEndpoint, light]) control.addEventListener("change", refresh);
    text.addEventListener("input", refresh);
    download.addEventListener("click", downloadView);
    const head = element("tr", {}, ...columns.map((c) => {
      const th = element("th", { "data-column": c.key, title: c.title || "click to sort", class: c.numeric ? "num" : "" }, c.label);
      th.addEventListener("click", () => {
        descending = sortBy === c.key ? !descending : c.numeric;  // numbers: largest first, then the other way
        sortBy = c.key;
        refresh();
      });
      return th;
    }));
    const body = element("tbody");
    const scroller = element("div", { class: "table-scroll" }, element("table", { id: "molecule-table" }, element("thead", {}, head), body));
    scroller.addEventListener("scroll", () => requestAnimationFrame(paint));
    body.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-row]");
      if (row) onSelect(Number(row.dataset.row));
    });
    body.addEventListener("mouseover", (event) => hover(event.target.closest("tr[data-row]"), event));
    body.addEventListener("mousemove", (event) => place(event));
    scroller.addEventListener("mouseleave", () => { if (tip) tip.hidden = true; });
    $("#profile-table").replaceChildren(
      element("div", { class: "row table-controls" }, text, element("label", {}, "traffic light ", lightEndpoint, " is ", light), download,
        element("span", { id: "table-count", class: "status" })),
      scroller);
    tip ??= document.body.appendChild(element("div", { id: "depiction-tip", hidden: "" }));
  }

  function matches(row, needle, endpoint, light) {
    if (needle && !(`${row.name || ""} ${row.molecule.input || ""} ${row.molecule.smiles || ""}`.toLowerCase().includes(needle))) return false;
    if (!light) return true;
    const lights = endpoint ? [columns.find((c) => c.key === endpoint).light(row)]
      : columns.filter((c) => c.endpoint).map((c) => c.light(row));
    return light === "not-red" ? lights.every((l) => l && l !== "red") : lights.some((l) => l === light);
  }

  // Filter and sort over precomputed keys (the sort compares numbers, not DOM), then paint the rows in view.
  function refresh() {
    const started = performance.now();
    const needle = $("#table-filter").value.trim().toLowerCase();
    const endpoint = $("#table-light-endpoint").value, light = $("#table-light").value;
    order = rows.map((_, i) => i).filter((i) => matches(rows[i], needle, endpoint, light));
    const column = columns.find((c) => c.key === sortBy);
    if (column) {
      const keys = rows.map((r) => column.value(r));
      const sign = descending ? -1 : 1;
      order.sort((a, b) => {
        const x = keys[a], y = keys[b];
        if (x === null || x === undefined || x === "") return y === null || y === undefined || y === "" ? a - b : 1;  // blanks last
        if (y === null || y === undefined || y === "") return -1;
        return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * sign || a - b;
      });
    }
    document.querySelectorAll("#molecule-table th").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.column === sortBy);
      th.dataset.direction = th.dataset.column === sortBy ? (descending ? "descending" : "ascending") : "";
    });
    $(".table-scroll").scrollTop = 0;
    paint();
    const took = performance.now() - started;
    $("#table-count").textContent = `${order.length} of ${rows.length} molecules (${took.toFixed(0)} ms)`;
  }

  function paint() {
    const scroller = $(".table-scroll");
    if (!scroller) return;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - ROW_OVERSCAN);
    const last = Math.min(order.length, first + Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 2 * ROW_OVERSCAN);
    const spacer = (rowsAway) => element("tr", { class: "spacer", style: `height: ${rowsAway * ROW_HEIGHT}px` });
    const visible = order.slice(first, last).map((i) => rowElement(rows[i]));
    $("#molecule-table tbody").replaceChildren(spacer(first), ...visible, spacer(order.length - last));
  }

  function rowElement(row) {
    if (row.molecule.error) {
      return element("tr", { "data-row": row.index, class: "failed" }, element("td", { class: "num" }, row.index + 1),
        element("td", {}, row.name || ""), element("td", {}, row.molecule.input || ""),
        element("td", { class: "error", colspan: columns.length - 3, title: row.molecule.error }, row.molecule.error));
    }
    return element("tr", { "data-row": row.index }, ...columns.map((c) => {
      const light = c.light ? c.light(row) : null;
      const attributes = { class: `${c.numeric ? "num" : ""}${light ? ` light ${light}` : ""}` };
      if (c.key === "smiles") attributes.title = row.molecule.smiles;
      return element("td", attributes, c.text ? c.text(row) : c.value(row) ?? "–");
    }));
  }

  function hover(tr, event) {
    const svg = tr ? rows[Number(tr.dataset.row)].molecule.svg : null;
    if (!svg) { tip.hidden = true; return; }
    tip.innerHTML = svg;  // RDKit's SVG, made by our own server
    tip.hidden = false;
    place(event);
  }

  function place(event) {
    if (!tip || tip.hidden) return;
    tip.style.left = `${Math.min(event.clientX + 18, innerWidth - 300)}px`;
    tip.style.top = `${Math.min(event.clientY + 12, innerHeight - 220)}px`;
  }

  // The rows of the current view, in its order, with its columns (and each endpoint's traffic light).
  function downloadView() {
    const header = [], cells = [];
    for (const c of columns) {
      header.push(c.key);
      if (c.endpoint) header.push(`${c.key}_light`);
    }
    header.push("error");
    for (const i of order) {
      const row = rows[i];
      const line = [];
      for (const c of columns) {
        const value = c.key === "rules" ? c.text(row) : c.value(row);
        line.push(value ?? "");
        if (c.endpoint) line.push(c.light(row) ?? "");
      }
      line.push(row.molecule.error || "");
      cells.push(line);
    }
    const quote = (value) => /[",\n]/.test(String(value)) ? `"${String(value).replaceAll('"', '""')}"` : String(value);
    const csv = [header, ...cells].map((line) => line.map(quote).join(",")).join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    element("a", { href: url, download: "profiles_view.csv" }).click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  return { show, clear };
})();

async function setupProfileExtras() {
  try {
    const [info] = await Promise.all([loadEndpointInfo(), loadPropertyInfo(), loadAtcClasses()]);
    setupEndpointChooser(info);
  } catch (_) { /* no key yet: set up on first use */ }
}
