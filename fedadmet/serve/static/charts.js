// Small SVG charts the design and campaign pages share (plain JavaScript, no library: works offline).
"use strict";

const CHART_COLOURS = ["#1d6fa5", "#c93c3c", "#2e9d4a", "#e0a21b", "#7b4fa0", "#52606d"];
const tick = (value) => Number.isInteger(value) ? String(value) : format(value);  // counts stay counts

// Axes, ticks and labels of a width × height chart over [x0, x1] × [y0, y1]; returns the svg and the scales.
function chartFrame({ width = 560, height = 300, pad = 48, x0, x1, y0, y1, xLabel, yLabel, label }) {
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const svg = svgElement("svg", { width, height, role: "img", "aria-label": label, class: "chart" });
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  svg.append(svgElement("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#52606d" }));
  svg.append(svgElement("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, stroke: "#52606d" }));
  svg.append(svgElement("text", { x: width / 2, y: height - 12, "text-anchor": "middle", "font-size": 12 }, xLabel));
  svg.append(svgElement("text", { x: 12, y: pad - 16, "font-size": 12 }, yLabel));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    svg.append(svgElement("text", { x: pad - 6, y: sy(y) + 4, "text-anchor": "end", "font-size": 10 }, tick(y)));
  }
  for (const x of [x0, (x0 + x1) / 2, x1]) {
    svg.append(svgElement("text", { x: sx(x), y: height - pad + 14, "text-anchor": "middle", "font-size": 10 }, tick(x)));
  }
  return { svg, sx, sy };
}

const extent = (values) => [Math.min(...values), Math.max(...values)];

// Lines: {name: [[x, y], ...]}; a name in `dashed` is drawn dashed. Returns the chart and an HTML legend below it.
function linePlot(series, { xLabel, yLabel, label, dashed = [], y0 = null, y1 = null }) {
  const points = Object.values(series).flat();
  const [x0, x1] = extent(points.map((p) => p[0]));
  const [low, high] = extent(points.map((p) => p[1]));
  const { svg, sx, sy } = chartFrame({ x0, x1, y0: y0 ?? low, y1: y1 ?? high, xLabel, yLabel, label });
  const legend = element("div", { class: "legend plot-legend" });
  Object.entries(series).forEach(([name, values], i) => {
    const colour = CHART_COLOURS[i % CHART_COLOURS.length];
    svg.append(svgElement("polyline", { fill: "none", stroke: colour, "stroke-width": 2, "data-series": name,
      "stroke-dasharray": dashed.includes(name) ? "6 4" : "none", points: values.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") }));
    for (const [x, y] of values) svg.append(svgElement("circle", { cx: sx(x), cy: sy(y), r: 2.5, fill: colour }));
    legend.append(element("span", { "data-series": name }, element("i", { class: "swatch", style: `background: ${colour}` }), name));
  });
  return element("div", { class: "chart-box" }, svg, legend);
}

// Points: [{x, y, className, title}], with an optional dashed line through `line` ([[x, y], ...]).
function scatterPlot(points, { xLabel, yLabel, label, line = null, lineName = "" }) {
  const xs = points.map((p) => p.x).concat(line ? line.map((p) => p[0]) : []);
  const ys = points.map((p) => p.y).concat(line ? line.map((p) => p[1]) : []);
  const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
  const { svg, sx, sy } = chartFrame({ x0, x1, y0, y1, xLabel, yLabel, label });
  if (line) {
    svg.append(svgElement("polyline", { fill: "none", stroke: "#52606d", "stroke-dasharray": "6 4", "data-series": lineName,
      points: line.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") }));
  }
  for (const p of points) {
    const dot = svgElement("circle", { cx: sx(p.x), cy: sy(p.y), r: 4, class: `point ${p.className || ""}` });
    if (p.title) dot.append(svgElement("title", {}, p.title));
    svg.append(dot);
  }
  return element("div", { class: "chart-box" }, svg);
}
