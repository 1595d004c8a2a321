// Building blocks shared by every dashboard page: panels (heading, status
// line, chart, table), value formatting, column picking, and Chart.js set up
// so that charts stay readable without colour (patterns and point shapes)
// and every chart has a table of the same numbers beside it.
//
// Each panel reports its state in data attributes, for people's tools and
// for the browser test: data-state="loading|ok|empty|error" on the panel,
// data-points="N" on the figure once Chart.js has drawn N data points, and
// document.body gets data-ready="true" when every panel of the page settled.

import { fetchQuery } from './api.js';

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#8C6D1F', '#555555'];
const POINT_STYLES = ['circle', 'rect', 'triangle', 'rectRot', 'star', 'crossRot', 'cross', 'line'];
const DASHES = [[], [6, 3], [2, 3], [10, 3, 2, 3]];

// ---------------------------------------------------------------- values

const intFmt = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const numFmt = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

// A number for people: thousands separators, at most two decimals.
export function fmtNumber(v) {
  if (v === null || v === undefined || v === '') return '—';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return Number.isInteger(n) ? intFmt.format(n) : numFmt.format(n);
}

// An ISO timestamp as "2026-11-24 12:01 UTC" (unambiguous, sortable).
export function fmtTime(v) {
  if (!v) return '—';
  if (/^\d{4}-\d\d-\d\d$/.test(String(v))) return String(v); // a date
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

// A cell value of an API column (see the contract's column types).
export function fmtValue(type, v) {
  if (v === null || v === undefined) return '—';
  switch (type) {
    case 'integer':
    case 'number':
      return fmtNumber(v);
    case 'timestamp':
      return fmtTime(v);
    case 'boolean':
      return v ? 'yes' : 'no';
    case 'array':
      return Array.isArray(v) ? v.join(', ') : String(v);
    case 'json':
      return typeof v === 'string' ? v : JSON.stringify(v);
    default:
      if (typeof v === 'object') return JSON.stringify(v);
      if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return fmtTime(v);
      return String(v);
  }
}

// "servers_answering" -> "Servers answering"
export function humanize(name) {
  const s = String(name).replace(/_/g, ' ').replace(/\bxep(\d{4})\b/gi, 'XEP-$1')
    .replace(/\b(tls|id|ttl|url|srv|sasl|xml|jid)\b/gi, (w) => w.toUpperCase());
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// ---------------------------------------------------------------- columns

const NUMERIC = new Set(['integer', 'number']);

// The first of candidates that the answer has as a column, else the first
// column of one of types (if given), else null.
export function pickColumn(body, candidates, types) {
  const names = new Set(body.columns.map((c) => c.name));
  for (const c of candidates) if (names.has(c)) return c;
  if (types) {
    const t = new Set(types);
    const col = body.columns.find((c) => t.has(c.type));
    if (col) return col.name;
  }
  return null;
}

// Names of the numeric columns of an answer.
export function numericColumns(body) {
  return body.columns.filter((c) => NUMERIC.has(c.type)).map((c) => c.name);
}

// The type of column name in an answer ('text' if unknown).
export function columnType(body, name) {
  const c = body.columns.find((x) => x.name === name);
  return c ? c.type : 'text';
}

// ---------------------------------------------------------------- DOM

// el('p', {class: 'x'}, 'text', child...) with text set safely.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

let panelSeq = 0;
const pending = new Set();

// A dashboard panel appended to parent: a section with a heading, a status
// line (role=status, announced), an optional chart and a table.
export class Panel {
  constructor(parent, { title, help = '', chart = true, wide = false, stacked = false, id } = {}) {
    this.id = id || `panel-${++panelSeq}`;
    this.section = el('section', {
      class: `panel${wide ? ' wide' : ''}`,
      id: this.id,
      'aria-labelledby': `${this.id}-h`,
      'data-panel': '',
      'data-state': 'loading',
    });
    this.heading = el('h2', { id: `${this.id}-h`, text: title });
    this.section.append(this.heading);
    if (help) this.section.append(el('p', { class: 'help', text: help }));
    this.status = el('p', { class: 'status', role: 'status', 'aria-live': 'polite', text: 'Loading…' });
    this.section.append(this.status);
    this.body = el('div', { class: `viz${chart ? '' : ' table-only'}${stacked ? ' stacked' : ''}` });
    this.section.append(this.body);
    this.hasChart = chart;
    parent.append(this.section);
  }

  // Runs load() (which fetches and renders), mapping its outcome to the
  // panel's state; the page is ready when every such run settled.
  run(load) {
    this.setState('loading', 'Loading…');
    const p = (async () => {
      try {
        await load(this);
      } catch (e) {
        this.showError(e);
      }
    })();
    return track(p);
  }

  setState(state, message) {
    this.section.dataset.state = state;
    this.status.textContent = message || '';
    this.status.className = `status ${state}`;
  }

  clear() {
    if (this.chart) {
      this.chart.destroy();
      this.chart = null;
    }
    this.body.replaceChildren();
  }

  // A failed request, shown in the panel (never a silently blank chart).
  showError(e) {
    this.clear();
    const msg = e && e.message ? e.message : String(e);
    this.setState('error', `Could not load this panel: ${msg}`);
    if (e && e.stack && !(e.name === 'ApiError')) console.warn(e);
  }

  // No rows: say so and say where data comes from.
  showEmpty(hint) {
    this.clear();
    this.setState('empty', `No data yet. ${hint || ''}`.trim());
  }

  // Data shown; note is an optional remark (e.g. rows cut off).
  showOk(note) {
    this.setState('ok', note || '');
  }
}

// Counts promise p among the work the page waits for before it is ready.
export function track(p) {
  pending.add(p);
  p.finally(() => pending.delete(p));
  return p;
}

// Resolves once every panel started so far has settled, then marks the page
// ready (data-ready="true" on body).
export async function pageReady() {
  while (pending.size) await Promise.allSettled([...pending]);
  document.body.dataset.ready = 'true';
}

// A table of columns (names of body.columns, or all) over rows.
// opts.link(col, row) may return an href for a cell; opts.labels maps column
// names to headings; opts.format[col](value, row) may format a cell.
export function dataTable(body, rows, opts = {}) {
  const cols = (opts.columns || body.columns.map((c) => c.name)).filter((n) =>
    body.columns.some((c) => c.name === n));
  const wrap = el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `${opts.caption || 'Table'} (scrollable)` });
  const table = el('table');
  if (opts.caption) table.append(el('caption', { text: opts.caption }));
  const trh = el('tr');
  for (const c of cols) {
    const t = columnType(body, c);
    trh.append(el('th', { scope: 'col', class: NUMERIC.has(t) ? 'num' : '', text: (opts.labels && opts.labels[c]) || humanize(c) }));
  }
  table.append(el('thead', {}, trh));
  const tb = el('tbody');
  for (const r of rows) {
    const tr = el('tr');
    for (const c of cols) {
      const t = columnType(body, c);
      const f = opts.format && opts.format[c];
      const txt = f && r[c] !== null && r[c] !== undefined ? f(r[c], r) : fmtValue(t, r[c]);
      const href = opts.link ? opts.link(c, r) : null;
      const cell = href ? el('a', { href, text: txt }) : txt;
      const cls = NUMERIC.has(t) ? 'num' : txt.length <= 28 ? 'nw' : 'long';
      tr.append(el('td', { class: cls }, cell));
    }
    tb.append(tr);
  }
  table.append(tb);
  wrap.append(table);
  return wrap;
}

// ---------------------------------------------------------------- charts

const patternCache = new Map();

// A fill for series i: colour i of the palette plus, from the second series
// on, a pattern (stripes, dots, cross-hatch, ...), so that series differ in
// more than hue (readable in greyscale and by colour-blind readers).
export function fillFor(i, alpha = 1) {
  const colour = PALETTE[i % PALETTE.length];
  const kind = i % 6;
  if (kind === 0) return alpha === 1 ? colour : hexAlpha(colour, alpha);
  const key = `${i}-${alpha}`;
  if (patternCache.has(key)) return patternCache.get(key);
  const c = document.createElement('canvas');
  c.width = 10;
  c.height = 10;
  const g = c.getContext('2d');
  g.fillStyle = hexAlpha(colour, alpha);
  g.fillRect(0, 0, 10, 10);
  g.strokeStyle = 'rgba(255,255,255,0.85)';
  g.fillStyle = 'rgba(255,255,255,0.85)';
  g.lineWidth = 2;
  g.beginPath();
  if (kind === 1) { g.moveTo(0, 10); g.lineTo(10, 0); g.moveTo(-5, 5); g.lineTo(5, -5); g.moveTo(5, 15); g.lineTo(15, 5); }
  else if (kind === 2) { g.arc(5, 5, 1.8, 0, 2 * Math.PI); g.fill(); }
  else if (kind === 3) { g.moveTo(0, 0); g.lineTo(10, 10); g.moveTo(10, 0); g.lineTo(0, 10); }
  else if (kind === 4) { g.moveTo(0, 5); g.lineTo(10, 5); }
  else { g.moveTo(5, 0); g.lineTo(5, 10); }
  g.stroke();
  const p = g.createPattern(c, 'repeat');
  patternCache.set(key, p);
  return p;
}

function hexAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

// Line style of series i: colour, point shape and dash all differ.
export function lineStyle(i) {
  const colour = PALETTE[i % PALETTE.length];
  return {
    borderColor: colour,
    backgroundColor: colour,
    pointStyle: POINT_STYLES[i % POINT_STYLES.length],
    pointRadius: 4,
    pointHoverRadius: 6,
    borderDash: DASHES[i % DASHES.length],
    borderWidth: 2,
    tension: 0,
  };
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

// Counts drawn points and marks the figure once Chart.js rendered.
const renderedMarker = {
  id: 'xcRendered',
  afterRender(chart) {
    const fig = chart.canvas.closest('figure');
    if (!fig) return;
    let n = 0;
    for (const ds of chart.data.datasets) {
      for (const v of ds.data) if (v !== null && v !== undefined && !Number.isNaN(v)) n++;
    }
    fig.dataset.points = String(n);
    fig.dataset.rendered = 'true';
  },
};

// Draws a Chart.js chart into the panel (before its table) and returns it.
// config is a Chart.js configuration; summary is the accessible name of the
// canvas (what the chart shows; the table beside has the numbers).
export function drawChart(panel, config, summary, height = 280) {
  const Chart = globalThis.Chart;
  if (typeof Chart !== 'function') {
    throw new Error('the charting library (vendor/chart.umd.min.js) did not load');
  }
  const canvas = el('canvas', { role: 'img', 'aria-label': summary });
  canvas.append(el('p', { text: `${summary}. The table beside the chart lists the same numbers.` }));
  const box = el('div', { class: 'chart-box' }, canvas);
  box.style.height = `${height}px`;
  const fig = el('figure', { 'data-chart': '', 'data-points': '0' }, box,
    el('figcaption', { class: 'sr-only', text: summary }));
  panel.body.prepend(fig);
  // the page's font, so that charts and tables read alike
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  const text = cssVar('--fg', '#1b1f24');
  const grid = cssVar('--grid', 'rgba(0,0,0,0.1)');
  const base = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    color: text,
    plugins: {
      legend: { labels: { color: text, usePointStyle: true, boxWidth: 14 } },
      tooltip: { mode: 'nearest', intersect: false },
    },
  };
  const cfg = { ...config, options: merge(base, config.options || {}) };
  for (const axis of Object.values(cfg.options.scales || {})) {
    axis.ticks = { color: text, ...(axis.ticks || {}) };
    axis.grid = { color: grid, ...(axis.grid || {}) };
    if (axis.title) axis.title = { display: true, color: text, ...axis.title };
  }
  cfg.plugins = [...(config.plugins || []), renderedMarker];
  panel.chart = new Chart(canvas, cfg);
  return panel.chart;
}

function merge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object'
      ? merge(a[k], v) : v;
  }
  return out;
}

// Horizontal bars of one or more value columns over labels; long category
// lists get taller charts rather than unreadable ones.
export function barChart(panel, { labels, series, summary, stacked = false, xTitle, percent = false, horizontal = true }) {
  const datasets = series.map((s, i) => ({
    label: s.label,
    data: s.data,
    backgroundColor: fillFor(i),
    borderColor: PALETTE[i % PALETTE.length],
    borderWidth: 1,
    maxBarThickness: 28,
  }));
  const integral = series.every((s) => s.data.every((v) => v === null || Number.isInteger(v)));
  const valueAxis = {
    beginAtZero: true,
    stacked,
    title: xTitle ? { text: xTitle } : undefined,
    ticks: percent ? { callback: (v) => `${v}%` } : (integral ? { precision: 0 } : {}),
  };
  if (!valueAxis.title) delete valueAxis.title;
  const valueKey = horizontal ? 'x' : 'y';
  const catAxis = { stacked, ticks: { autoSkip: false } };
  const height = horizontal ? Math.max(170, Math.min(900, 60 + labels.length * (series.length > 1 && !stacked ? 14 * series.length : 26))) : 300;
  return drawChart(panel, {
    type: 'bar',
    data: { labels, datasets },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      scales: horizontal ? { x: valueAxis, y: catAxis } : { x: catAxis, y: valueAxis },
      plugins: {
        legend: { display: series.length > 1 },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtNumber(c.parsed[valueKey])}${percent ? ' %' : ''}` } },
      },
    },
  }, summary, height);
}

// Lines of several series over shared x labels (days, cache sizes).
export function lineChart(panel, { labels, series, summary, yTitle, xTitle, percent = false, yMin, yMax }) {
  const datasets = series.map((s, i) => ({ label: s.label, data: s.data, ...lineStyle(i), spanGaps: true }));
  const y = { beginAtZero: true, ticks: percent ? { callback: (v) => `${v}%` } : {} };
  if (yMin !== undefined) { y.beginAtZero = false; y.min = yMin; }
  if (yMax !== undefined) y.max = yMax;
  if (yTitle) y.title = { text: yTitle };
  const x = {};
  if (xTitle) x.title = { text: xTitle };
  return drawChart(panel, {
    type: 'line',
    data: { labels, datasets },
    options: {
      scales: { x, y },
      plugins: {
        legend: { display: true },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtNumber(c.parsed.y)}${percent ? ' %' : ''}` } },
      },
    },
  }, summary, 300);
}

// ---------------------------------------------------------------- helpers

// Fetches query name for panel; shows the empty state (with hint) when it
// has no rows. Returns the answer, or null when empty.
export async function loadInto(panel, name, params, emptyHint) {
  const body = await fetchQuery(name, params);
  panel.clear();
  if (body.rows.length === 0) {
    panel.showEmpty(emptyHint);
    return null;
  }
  return body;
}

// "showing the first N rows" when the API has more.
export function truncNote(body) {
  return body.next ? `Showing the first ${fmtNumber(body.rows.length)} rows.` : '';
}

// Sums value column by label column (e.g. servers per software over versions),
// largest first; returns [[label, sum], ...].
export function sumBy(rows, labelCol, valueCol) {
  const m = new Map();
  for (const r of rows) {
    const k = r[labelCol] === null || r[labelCol] === undefined || r[labelCol] === '' ? '(unknown)' : String(r[labelCol]);
    m.set(k, (m.get(k) || 0) + (Number(r[valueCol]) || 0));
  }
  // stable: ties keep the API's order
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

// The top n entries of [[label, value]...] with the rest summed as "other".
export function topN(pairs, n) {
  if (pairs.length <= n) return pairs;
  const head = pairs.slice(0, n);
  const rest = pairs.slice(n).reduce((s, p) => s + p[1], 0);
  return [...head, [`other (${pairs.length - n})`, rest]];
}

// A ratio (0..1) as a percentage with one decimal.
export function fmtRatio(v) {
  return `${(100 * Number(v)).toFixed(1)} %`;
}

// The page's query-string parameter name ('' when absent).
export function param(name) {
  return new URLSearchParams(location.search).get(name) || '';
}

// A ranking panel: fetches query, draws the top entries of one value column
// as horizontal bars (labels joined from the first present label columns;
// sum: add up rows that share a label), and lists every row in the table.
// opts: title, help, query, params, labels (candidate columns, in order; the
// first present ones up to opts.labelCount are joined), values (candidate
// value columns), top, hint (empty state), sum, wide, columns (of the table;
// default all).
export function rankPanel(parent, opts) {
  const p = new Panel(parent, { title: opts.title, help: opts.help, wide: opts.wide });
  p.run(async () => {
    const body = await loadInto(p, opts.query, opts.params || {}, opts.hint);
    if (!body) return;
    const names = new Set(body.columns.map((c) => c.name));
    let labelCols = opts.labels.filter((c) => names.has(c)).slice(0, opts.labelCount || 1);
    if (labelCols.length === 0) {
      const t = body.columns.find((c) => c.type === 'text');
      if (!t) throw new Error(`the answer of ${opts.query} has no label column`);
      labelCols = [t.name];
    }
    const value = pickColumn(body, opts.values, ['integer', 'number']);
    if (!value) throw new Error(`the answer of ${opts.query} has no numeric column`);
    const key = '__label';
    const rows = body.rows.map((r) => ({
      ...r,
      [key]: labelCols.map((c) => (r[c] === null || r[c] === '' ? '' : String(r[c]))).filter(Boolean).join(' ') || '(none)',
    }));
    let pairs = opts.sum ? sumBy(rows, key, value)
      : rows.map((r) => [r[key], Number(r[value]) || 0]).sort((a, b) => b[1] - a[1]);
    pairs = opts.sum ? topN(pairs, opts.top || 12) : pairs.slice(0, opts.top || 12);
    const percent = /percent|share/.test(value);
    barChart(p, {
      labels: pairs.map((x) => x[0]),
      series: [{ label: humanize(value), data: pairs.map((x) => x[1]) }],
      summary: `Bar chart: ${opts.title}, ${humanize(value).toLowerCase()} for the top ${pairs.length}`,
      xTitle: humanize(value),
      percent,
    });
    p.body.append(dataTable(body, body.rows, { caption: `${opts.title}: all rows`, link: opts.link, columns: opts.columns }));
    p.showOk(truncNote(body));
  });
  return p;
}

// Submits forms (ids) by navigating to page?NAME=VALUE for every non-empty
// input of all of them (the server's CSP forbids native form submission;
// this keeps each view a plain link).
export function bindForms(ids, page) {
  const forms = ids.map((id) => document.getElementById(id)).filter(Boolean);
  for (const f of forms) {
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const qs = new URLSearchParams();
      for (const form of forms) {
        for (const input of form.querySelectorAll('input[name]')) {
          const v = input.value.trim();
          if (v) qs.set(input.name, v);
        }
      }
      const s = qs.toString();
      location.assign(s ? `${page}?${s}` : page);
    });
  }
}
