// The latest analysis's headline figures (analysis_latest): figures counted
// both with and without XEP-0232 forms, other than the per-cache ones that
// hit_rates charts; shared by the overview and the XEP-0232 page.
import { barChart, dataTable, pickColumn } from './ui.js';

// Units of per-cache figures, charted from hit_rates instead.
const PER_CACHE_UNITS = new Set(['ratio', 'queries']);

const num = (v) => (v === null || v === undefined || v === '' ? null : Number(v));

// A column whose name has every word of all and none of none.
export function findCol(body, all, none = []) {
  const c = body.columns.find((x) => all.every((w) => x.name.includes(w)) && none.every((w) => !x.name.includes(w)));
  return c ? c.name : null;
}

// The columns of an analysis_latest answer and its headline rows; throws if
// the with/without columns are missing.
export function headline(body) {
  const h = {
    mcol: pickColumn(body, ['metric', 'name'], ['text']),
    wcol: findCol(body, ['with'], ['without']),
    wocol: findCol(body, ['without']),
    ucol: pickColumn(body, ['unit'], null),
  };
  if (!h.wcol || !h.wocol) throw new Error('analysis_latest lacks the with/without columns');
  h.rows = body.rows.filter((r) => num(r[h.wcol]) > 0 && num(r[h.wocol]) !== null
    && !PER_CACHE_UNITS.has(h.ucol ? r[h.ucol] : ''));
  return h;
}

// "1,151 entries" and the change from with to without, e.g. -26.5.
export function change(h, r) {
  return ((num(r[h.wocol]) - num(r[h.wcol])) / num(r[h.wcol])) * 100;
}

// Draws each headline figure without the forms in percent of the figure
// with them (so that entries and bytes share one axis), and its table.
export function drawRelative(panel, body, h) {
  barChart(panel, {
    labels: h.rows.map((r) => r[h.mcol]),
    series: [
      { label: 'With XEP-0232 (as observed)', data: h.rows.map(() => 100) },
      { label: 'Without XEP-0232', data: h.rows.map((r) => +((100 * num(r[h.wocol])) / num(r[h.wcol])).toFixed(1)) },
    ],
    summary: 'Grouped bar chart: each headline figure without XEP-0232 in percent of the figure with it',
    xTitle: 'Percent of the figure with XEP-0232',
    percent: true,
  });
  panel.body.append(dataTable(body, h.rows, { caption: 'Headline figures', columns: [h.mcol, h.wcol, h.wocol, h.ucol].filter(Boolean) }));
}
