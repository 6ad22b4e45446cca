// Hand-drawn SVG charts: a line chart and a bar chart over labelled, evenly spaced points.
// No chart library, so nothing to vendor and nothing to load.

const SVG = "http://www.w3.org/2000/svg";
const W = 560;
const H = 180;
const PAD = { left: 58, right: 10, top: 14, bottom: 30 };

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(title, labels, max, format, bands = false) {
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.append(el("title", {}, title));
  const plotH = H - PAD.top - PAD.bottom;
  for (const share of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - share);
    svg.append(el("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }));
    svg.append(el("text", { x: PAD.left - 4, y: y + 3, "text-anchor": "end" }, format(max * share)));
  }
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % step !== 0 && i !== labels.length - 1) return;
    const anchor = bands ? "middle"
      : labels.length > 1 && i === labels.length - 1 ? "end" : i === 0 && labels.length > 1 ? "start" : "middle";
    const x = bands ? bandAt(i, labels.length) : xAt(i, labels.length);
    svg.append(el("text", { x, y: H - 8, "text-anchor": anchor }, label));
  });
  return svg;
}

function xAt(i, n) {
  const plotW = W - PAD.left - PAD.right;
  return PAD.left + (n <= 1 ? plotW / 2 : (plotW * i) / (n - 1));
}

// Bars sit in the middle of equal bands, so the first and last stay inside the plot.
function bandAt(i, n) {
  const plotW = W - PAD.left - PAD.right;
  return PAD.left + (plotW * (i + 0.5)) / Math.max(n, 1);
}

function yAt(value, max) {
  const plotH = H - PAD.top - PAD.bottom;
  return PAD.top + plotH * (1 - (max > 0 ? value / max : 0));
}

const present = (values) => values.filter((v) => v !== null && v !== undefined);

// The top of the axis: the largest value rounded up to 1, 2 or 5 times a power of ten,
// so the three gridlines read as round numbers.
function niceMax(values, floor) {
  const max = Math.max(floor, ...present(values));
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= max);
}

const plain = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function nothing(title, message) {
  const box = document.createElement("figure");
  box.className = "chart empty";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const note = document.createElement("p");
  note.className = "muted";
  note.textContent = message;
  box.append(caption, note);
  return box;
}

function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    item.className = `l-${i % 4}`;
    item.textContent = s.name;
    box.append(item);
  });
  return box;
}

// series: [{name, values: [number|null, ...]}], one value per label; null leaves a gap.
export function lineChart(title, labels, series, { format = plain, max, empty = "No data yet." } = {}) {
  if (!present(series.flatMap((s) => s.values)).length) return nothing(title, empty);
  const top = max ?? niceMax(series.flatMap((s) => s.values), 0);
  const svg = frame(title, labels, top, format);
  series.forEach((s, index) => {
    let path = "";
    s.values.forEach((value, i) => {
      if (value === null || value === undefined) return;
      const point = `${xAt(i, labels.length).toFixed(1)},${yAt(value, top).toFixed(1)}`;
      const previous = s.values[i - 1];
      path += `${path && previous !== null && previous !== undefined ? "L" : "M"}${point} `;
      svg.append(el("circle", { cx: xAt(i, labels.length), cy: yAt(value, top), r: 2.5,
        class: `series-${index % 4}`, "data-value": value }));
    });
    if (path) svg.append(el("path", { d: path.trim(), class: `series-${index % 4}` }));
  });
  return wrap(title, svg, series);
}

// One bar per label, or (several series) one group of bars per label, each bar with its
// value written above it so the chart reads without hovering.
export function barChart(title, labels, values, options = {}) {
  return groupedBarChart(title, labels, [{ name: title, values }], options);
}

export function groupedBarChart(title, labels, series, { format = plain, max, empty = "No data yet." } = {}) {
  const all = series.flatMap((s) => s.values);
  if (!present(all).some((v) => v !== 0)) return nothing(title, empty);
  const top = max ?? niceMax(all, 0);
  const svg = frame(title, labels, top, format, true);
  const plotW = W - PAD.left - PAD.right;
  const group = Math.min(120, (plotW / Math.max(labels.length, 1)) * 0.7);
  const width = Math.max(2, group / series.length);
  series.forEach((s, index) => {
    s.values.forEach((value, i) => {
      const x = bandAt(i, labels.length) - group / 2 + width * index;
      const y = yAt(value || 0, top);
      svg.append(el("rect", { class: `bar bar-${index % 4}`, x, y, width: Math.max(1, width - 2),
        height: yAt(0, top) - y, "data-value": value || 0, "data-series": s.name }));
      if (value !== null && value !== undefined) {
        svg.append(el("text", { class: "value", x: x + width / 2 - 1, y: Math.max(y - 3, 12),
          "text-anchor": "middle" }, format(value)));
      }
    });
  });
  return wrap(title, svg, series);
}

function wrap(title, svg, series) {
  const box = document.createElement("figure");
  box.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  box.append(caption, svg);
  if (series.length > 1) box.append(legend(series));
  return box;
}

export const percent = (v) => `${Math.round(v * 100)}%`;
export const seconds = (v) => `${v.toFixed(v < 10 ? 1 : 0)}s`;
export const dollars = (v) => `$${v.toFixed(v < 1 ? 3 : 2)}`;
