// XEP-0232 impact page: the latest analysis's figures with and without
// software-information forms (analysis_latest) as cards and a relative
// chart, simulated cache hit-rate curves and disco#info queries (hit_rates),
// which clients send the forms (client_software), caps sources (caps_stats)
// and the analysis runs (analysis_runs).
import { change, drawRelative, findCol, headline } from './analysis.js';
import { fetchQuery } from './api.js';
import {
  Panel, barChart, dataTable, el, fmtNumber, fmtRatio, humanize, lineChart, loadInto,
  pageReady, pickColumn, track, truncNote,
} from './ui.js';

const cards = document.getElementById('cards');
const latest = document.getElementById('latest');
const grid = document.getElementById('panels');
const analyzeHint = 'No analysis yet: run xcensus analyze (after an import or a crawl).';

// The cards only hold figures; the panels below explain an empty or failed load.
function hideCards() {
  cards.hidden = true;
  delete cards.dataset.panel;
}

const num = (v) => (v === null || v === undefined || v === '' ? null : Number(v));

// Headline figures: each as a card (with, without, change) and together as
// "without, in percent of with" bars, so that entries and bytes share an axis.
const relative = new Panel(latest, {
  title: 'What the forms cost',
  help: 'Each figure without XEP-0232 forms, in percent of the figure as observed (with them = 100 %). Shorter striped bars: the forms make that figure larger.',
});
const figures = new Panel(latest, {
  title: 'Latest analysis: every figure', chart: false,
  help: 'All figures of the latest analysis run, with the forms (as observed) and as if no entity sent one.',
});
track((async () => {
  let body;
  try {
    body = await fetchQuery('analysis_latest');
  } catch (e) {
    for (const p of [relative, figures]) p.showError(e);
    hideCards();
    return;
  }
  if (body.rows.length === 0) {
    for (const p of [relative, figures]) p.showEmpty(analyzeHint);
    hideCards();
    return;
  }
  const wcol = findCol(body, ['with'], ['without']);
  const wocol = findCol(body, ['without']);
  const ucol = pickColumn(body, ['unit'], null);
  const shown = body.columns.map((c) => c.name).filter((n) => n !== 'run' && n !== 'pos');
  figures.run(async () => {
    figures.clear();
    // ratios (hit rates) as percentages
    const ratio = (v, r) => (ucol && r[ucol] === 'ratio' ? fmtRatio(v) : fmtNumber(v));
    figures.body.append(dataTable(body, body.rows, {
      caption: 'All figures of the latest analysis', columns: shown,
      format: { [wcol]: ratio, [wocol]: ratio },
    }));
    figures.showOk(truncNote(body));
  });
  relative.run(async () => {
    relative.clear();
    const h = headline(body);
    if (h.rows.length === 0) {
      relative.showEmpty('The latest analysis has no figure counted both with and without the forms.');
      hideCards();
      return;
    }
    for (const r of h.rows) {
      const c = change(h, r);
      const unit = h.ucol && r[h.ucol] ? ` ${r[h.ucol]}` : '';
      cards.append(el('div', { class: 'card' },
        el('dt', { text: r[h.mcol] }),
        el('dd', { text: `${fmtNumber(r[h.wcol])}${unit}` }),
        el('dd', { class: 'note', text: `without XEP-0232: ${fmtNumber(r[h.wocol])}${unit} (${c > 0 ? '+' : ''}${c.toFixed(1)} %)` })));
    }
    cards.dataset.state = 'ok';
    drawRelative(relative, body, h);
    relative.showOk();
  });
})());

// Hit-rate curves: each simulated cache (smallest first), with and without.
const hits = new Panel(grid, {
  title: 'Caps cache hit rate',
  help: 'Simulated presences against each client or server cache model: share of caps lookups answered from the cache. Circles and a solid line: with the forms; squares and a dashed line: without.',
});
const queries = new Panel(grid, {
  title: 'disco#info queries per 1000 presences',
  help: 'Every cache miss becomes a disco#info query on the network: fewer is better. Solid bars: with the forms; striped: without.',
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
  // capacity 0 means unbounded: last
  const size = (r) => (Number(r[cap]) > 0 ? Number(r[cap]) : Infinity);
  const rows = cap ? [...body.rows].sort((a, b) => size(a) - size(b)) : body.rows;
  const labels = rows.map((r) => String(r[ccol]));
  const draw = (p, kind, what, curve) => p.run(async () => {
    const w = findCol(body, [kind, 'with'], ['without']);
    const wo = findCol(body, [kind, 'without']);
    if (!w || !wo) throw new Error(`hit_rates lacks the ${what} columns with and without XEP-0232`);
    const fraction = Math.max(...rows.map((r) => num(r[w]) || 0), ...rows.map((r) => num(r[wo]) || 0)) <= 1;
    let a = rows.map((r) => num(r[w]));
    let b = rows.map((r) => num(r[wo]));
    const series = () => [{ label: 'With XEP-0232', data: a }, { label: 'Without XEP-0232', data: b }];
    if (curve) {
      if (fraction) {
        a = a.map((v) => (v === null ? null : +(100 * v).toFixed(2)));
        b = b.map((v) => (v === null ? null : +(100 * v).toFixed(2)));
      }
      const lo = Math.min(...a.filter((v) => v !== null), ...b.filter((v) => v !== null));
      lineChart(p, {
        labels, series: series(), summary: `Line chart: ${what} per cache, smallest cache first, with and without XEP-0232`,
        yTitle: 'Hit rate (%)', xTitle: 'Cache (smallest first)', percent: true,
        yMin: Math.max(0, Math.floor((lo - 5) / 10) * 10), yMax: 100,
      });
    } else {
      barChart(p, { labels, series: series(), summary: `Grouped bar chart: ${what} per cache, with and without XEP-0232`, xTitle: humanize(what) });
    }
    const format = curve && fraction ? { [w]: fmtRatio, [wo]: fmtRatio } : {};
    if (cap) format[cap] = (v) => (Number(v) > 0 ? fmtNumber(v) : 'unbounded');
    p.body.append(dataTable(body, rows, { columns: [ccol, cap, w, wo].filter(Boolean), caption: `${what} per cache`, format }));
    p.showOk();
  });
  await Promise.all([draw(hits, 'hit', 'hit rate', true), draw(queries, 'quer', 'queries per 1000 presences', false)]);
})());

// Which client software sends the forms.
const senders = new Panel(grid, {
  title: 'Clients sending XEP-0232 forms',
  help: 'Caps hashes per client software, and how many of them carry a software information form.',
});
senders.run(async (p) => {
  const body = await loadInto(p, 'client_software', {}, 'No client caps yet: import capsdb or crawl rooms.');
  if (!body) return;
  const scol = pickColumn(body, ['software', 'node'], ['text']);
  const hcol = pickColumn(body, ['hashes'], ['integer']);
  const xcol = findCol(body, ['xep0232']) || findCol(body, ['softinfo']);
  if (!xcol) throw new Error('client_software lacks a with_xep0232 column');
  const rows = body.rows.filter((r) => Number(r[xcol]) > 0).sort((a, b) => Number(b[xcol]) - Number(a[xcol]));
  if (rows.length === 0) {
    p.showEmpty('No client sent a software information form.');
    return;
  }
  const top = rows.slice(0, 12);
  barChart(p, {
    labels: top.map((r) => r[scol]),
    series: [
      { label: 'Hashes with XEP-0232', data: top.map((r) => Number(r[xcol])) },
      { label: 'All hashes', data: top.map((r) => Number(r[hcol])) },
    ],
    summary: `Grouped bar chart: caps hashes with XEP-0232 forms and all hashes, for the ${top.length} clients sending most forms`,
    xTitle: 'Caps hashes',
  });
  p.body.append(dataTable(body, rows, { caption: 'Clients that send the forms', columns: [scol, hcol, xcol, 'observations'] }));
  p.showOk(`${rows.length} of ${body.rows.length} client software send the forms.`);
});

const sources = new Panel(grid, {
  title: 'Caps sources',
  help: 'Caps entries each source holds (imports and crawls), and how many of them carry an XEP-0232 form.',
});
sources.run(async (p) => {
  const body = await loadInto(p, 'caps_stats', {}, 'No caps source yet: import capsdb or crawl rooms.');
  if (!body) return;
  const scol = pickColumn(body, ['source', 'name'], ['text']);
  const ecol = pickColumn(body, ['entries'], ['integer']);
  const xcol = findCol(body, ['xep0232']) || findCol(body, ['softinfo']);
  barChart(p, {
    labels: body.rows.map((r) => r[scol]),
    series: [ecol, xcol].filter(Boolean).map((c) => ({ label: humanize(c), data: body.rows.map((r) => Number(r[c]) || 0) })),
    summary: 'Grouped bar chart: caps entries per source, and those with XEP-0232',
    xTitle: 'Caps entries',
  });
  p.body.append(dataTable(body, body.rows, { caption: 'Caps sources' }));
  p.showOk(truncNote(body));
});

const runs = new Panel(grid, { title: 'Analysis runs', chart: false, wide: true, help: 'Every stored run of xcensus analyze, newest first.' });
runs.run(async (p) => {
  const body = await loadInto(p, 'analysis_runs', {}, analyzeHint);
  if (!body) return;
  const cols = body.columns.map((c) => c.name).filter((n) => n !== 'popularity');
  p.body.append(dataTable(body, body.rows, { caption: 'Analysis runs', columns: cols }));
  const pop = body.rows[0].popularity;
  p.showOk(pop ? `Popularity model of the latest run: ${pop}` : truncNote(body));
});
pageReady();
