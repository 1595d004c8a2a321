// Crawl health page: each crawl's job queue by state (crawl_health) and the
// outcome of every probe kind (probe_outcomes), as stacked bars with tables.
import {
  Panel, barChart, dataTable, humanize, loadInto, pageReady, pickColumn, truncNote,
} from './ui.js';

const grid = document.getElementById('panels');
const crawlHint = 'No crawl yet: seed domains (xcensus seed) and run xcensus crawl.';
// Queue states that partition a crawl's jobs (retrying is part of queued).
const STATES = ['done', 'failed', 'queued', 'leased', 'cancelled'];

const health = new Panel(grid, {
  title: 'Job queue per crawl', wide: true, stacked: true,
  help: 'Jobs of each crawl by state, with the oldest lease, the last completion, recent outcomes and the ingest rate.',
});
health.run(async (p) => {
  const body = await loadInto(p, 'crawl_health', {}, crawlHint);
  if (!body) return;
  const ccol = pickColumn(body, ['crawl', 'name'], ['text']);
  const states = STATES.filter((s) => body.columns.some((c) => c.name === s));
  if (states.length === 0) throw new Error('crawl_health has none of the state columns');
  barChart(p, {
    labels: body.rows.map((r) => r[ccol]),
    series: states.map((s) => ({ label: humanize(s), data: body.rows.map((r) => Number(r[s]) || 0) })),
    summary: `Stacked bar chart: jobs of each crawl by state (${states.join(', ')})`,
    stacked: true,
    xTitle: 'Jobs',
  });
  p.body.append(dataTable(body, body.rows, { caption: 'Crawls' }));
  p.showOk(truncNote(body));
});

const outcomes = new Panel(grid, {
  title: 'Probe outcomes', wide: true,
  help: 'Every probe kind (disco, version, items, census, direct stream and TLS, …) by outcome class.',
});
outcomes.run(async (p) => {
  const body = await loadInto(p, 'probe_outcomes', {}, crawlHint);
  if (!body) return;
  const kcol = pickColumn(body, ['probe', 'kind', 'probe_kind'], ['text']);
  const ocol = pickColumn(body, ['class', 'outcome_class', 'outcome'], null)
    || body.columns.find((c) => c.type === 'text' && c.name !== kcol).name;
  const vcol = pickColumn(body, ['count', 'outcomes', 'n'], ['integer']);
  const kinds = [...new Set(body.rows.map((r) => String(r[kcol])))];
  const classes = [...new Set(body.rows.map((r) => String(r[ocol])))]
    .sort((a, b) => (a === 'ok' ? -1 : b === 'ok' ? 1 : a.localeCompare(b)));
  const cell = new Map();
  for (const r of body.rows) {
    const k = `${r[kcol]}\u0000${r[ocol]}`;
    cell.set(k, (cell.get(k) || 0) + (Number(r[vcol]) || 0));
  }
  barChart(p, {
    labels: kinds,
    series: classes.map((c) => ({ label: c, data: kinds.map((k) => cell.get(`${k}\u0000${c}`) || 0) })),
    summary: `Stacked bar chart: outcomes of ${kinds.length} probe kinds by class (${classes.join(', ')})`,
    stacked: true,
    xTitle: humanize(vcol),
  });
  p.body.append(dataTable(body, body.rows, { caption: 'Outcomes per probe kind' }));
  p.showOk(truncNote(body));
});
pageReady();
