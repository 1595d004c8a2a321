// XEP-0232 impact page: the latest analysis's figures with and without
// software-information forms (analysis_latest), simulated cache hit rates
// and disco#info queries (hit_rates), caps sources (caps_stats) and the
// analysis runs (analysis_runs).
import { fetchQuery } from './api.js';
import {
  Panel, barChart, dataTable, humanize, lineChart, loadInto, pageReady,
  pickColumn, rankPanel, track, truncNote,
} from './ui.js';

const latest = document.getElementById('latest');
const grid = document.getElementById('panels');
const analyzeHint = 'No analysis yet: run xcensus analyze (after an import or a crawl).';

// A column whose name has every word of all and none of none.
function findCol(body, all, none = []) {
  const c = body.columns.find((x) => all.every((w) => x.name.includes(w)) && none.every((w) => !x.name.includes(w)));
  return c ? c.name : null;
}

// The figures of the latest analysis, one chart per unit (entries, bytes,
// ...), so that bars on one axis are comparable.
track((async () => {
  const status = new Panel(latest, {
    title: 'Latest analysis: with and without XEP-0232', chart: false,
    help: 'Every figure of the latest analysis run, counted with the forms (as observed) and as if no entity sent one.',
  });
  await status.run(async (p) => {
    const body = await loadInto(p, 'analysis_latest', {}, analyzeHint);
    if (!body) return;
    const mcol = pickColumn(body, ['metric', 'name'], ['text']);
    const wcol = findCol(body, ['with'], ['without']);
    const wocol = findCol(body, ['without']);
    const ucol = pickColumn(body, ['unit'], null);
    if (!wcol || !wocol) throw new Error('analysis_latest lacks the with/without columns');
    const units = new Map();
    for (const r of body.rows) {
      const u = ucol ? r[ucol] || '' : '';
      if (!units.has(u)) units.set(u, []);
      units.get(u).push(r);
    }
    for (const [unit, rows] of units) {
      const up = new Panel(latest, {
        title: unit ? `With and without XEP-0232: ${unit}` : 'With and without XEP-0232',
        help: 'Dark bars: as observed, with the forms. Striped bars: without them.',
      });
      up.run(async () => {
        barChart(up, {
          labels: rows.map((r) => r[mcol]),
          series: [
            { label: 'With XEP-0232', data: rows.map((r) => Number(r[wcol])) },
            { label: 'Without XEP-0232', data: rows.map((r) => Number(r[wocol])) },
          ],
          summary: `Grouped bar chart: ${unit || 'figures'} with and without XEP-0232 forms`,
          xTitle: unit ? humanize(unit) : undefined,
        });
        up.body.append(dataTable(body, rows, { caption: `Figures in ${unit || 'units as listed'}` }));
        up.showOk();
      });
    }
    p.body.append(dataTable(body, body.rows, { caption: 'All figures of the latest analysis' }));
    p.showOk(truncNote(body));
  });
})());

// Hit-rate curves: each simulated cache (by size), with and without forms.
const hits = new Panel(grid, {
  title: 'Caps cache hit rate',
  help: 'Simulated presences against each client or server cache model: share of caps lookups answered from the cache.',
});
const queries = new Panel(grid, {
  title: 'disco#info queries per 1000 presences',
  help: 'Cache misses become disco#info queries on the network: fewer is better.',
});
track((async () => {
  let body;
  try {
    body = await fetchQuery('hit_rates');
  } catch (e) {
    hits.showError(e);
    queries.showError(e);
    return;
  }
  for (const p of [hits, queries]) p.clear();
  if (body.rows.length === 0) {
    hits.showEmpty(analyzeHint);
    queries.showEmpty(analyzeHint);
    return;
  }
  const ccol = pickColumn(body, ['cache', 'cache_kind', 'kind', 'name'], ['text']);
  const cap = pickColumn(body, ['capacity', 'cache_size', 'size'], null);
  const rows = cap ? [...body.rows].sort((a, b) => (Number(a[cap]) || Infinity) - (Number(b[cap]) || Infinity)) : body.rows;
  const labels = rows.map((r) => String(r[ccol]));
  const draw = (p, kind, what, scale) => p.run(async () => {
    const w = findCol(body, [kind, 'with'], ['without']);
    const wo = findCol(body, [kind, 'without']);
    if (!w || !wo) throw new Error(`hit_rates lacks the ${kind} columns with and without XEP-0232`);
    const vals = (c) => rows.map((r) => (r[c] === null ? null : Number(r[c])));
    let a = vals(w);
    let b = vals(wo);
    const fraction = scale && Math.max(...a, ...b) <= 1;
    if (fraction) {
      a = a.map((v) => (v === null ? null : +(100 * v).toFixed(2)));
      b = b.map((v) => (v === null ? null : +(100 * v).toFixed(2)));
    }
    const series = [{ label: 'With XEP-0232', data: a }, { label: 'Without XEP-0232', data: b }];
    if (scale) {
      const lo = Math.min(...a, ...b);
      lineChart(p, {
        labels, series, summary: `Line chart: ${what} per cache, with and without XEP-0232`,
        yTitle: 'Hit rate (%)', xTitle: 'Cache (smallest first)', percent: true,
        yMin: Math.max(0, Math.floor((lo - 5) / 10) * 10), yMax: 100,
      });
    } else {
      barChart(p, { labels, series, summary: `Grouped bar chart: ${what} per cache, with and without XEP-0232`, xTitle: humanize(what) });
    }
    const cols = [ccol, cap, w, wo].filter(Boolean);
    p.body.append(dataTable(body, rows, { columns: cols, caption: `${what} per cache` }));
    p.showOk();
  });
  await Promise.all([draw(hits, 'hit', 'hit rate', true), draw(queries, 'quer', 'queries per 1000 presences', false)]);
})());

rankPanel(grid, {
  query: 'caps_stats', title: 'Caps sources',
  help: 'Caps entries each source holds (imports and crawls), and how many carry an XEP-0232 form.',
  labels: ['source', 'name'], values: ['entries', 'observations'],
  hint: 'No caps source yet: import capsdb or crawl rooms.',
});

const runs = new Panel(grid, { title: 'Analysis runs', chart: false, help: 'Every stored run of xcensus analyze, newest first.' });
runs.run(async (p) => {
  const body = await loadInto(p, 'analysis_runs', {}, analyzeHint);
  if (!body) return;
  p.body.append(dataTable(body, body.rows, { caption: 'Analysis runs' }));
  p.showOk(truncNote(body));
});
pageReady();
