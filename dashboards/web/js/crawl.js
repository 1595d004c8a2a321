// Crawl health page: each crawl's job queue by state (crawl_health) and the
// outcome of every probe kind (probe_outcomes), as stacked bars with tables.
import {
  Panel, barChart, dataTable, el, fmtNumber, humanize, loadInto, pageReady, pickColumn, truncNote,
} from './ui.js';

const grid = document.getElementById('panels');
const cards = document.getElementById('cards');

// All crawls together as key figures: jobs by state, recent outcomes.
function fillCards(body) {
  const sum = (c) => body.rows.reduce((s, r) => s + (Number(r[c]) || 0), 0);
  const has = (c) => body.columns.some((x) => x.name === c);
  const pct = (ok, all) => (all > 0 ? ` (${((100 * ok) / all).toFixed(1)} % ok)` : '');
  const figures = [
    ['Jobs queued', 'queued'], ['Jobs leased', 'leased'], ['Jobs done', 'done'], ['Jobs failed', 'failed'],
    ['Retrying', 'retrying'], ['Expired leases', 'expired_leases'],
  ].filter(([, c]) => has(c)).map(([label, c]) => [label, fmtNumber(sum(c))]);
  if (has('outcomes_1h')) figures.push(['Probe outcomes, last hour', `${fmtNumber(sum('outcomes_1h'))}${pct(sum('ok_1h'), sum('outcomes_1h'))}`]);
  if (has('outcomes_24h')) figures.push(['Probe outcomes, last day', `${fmtNumber(sum('outcomes_24h'))}${pct(sum('ok_24h'), sum('outcomes_24h'))}`]);
  if (has('outcomes_per_min')) figures.push(['Outcomes per minute', fmtNumber(sum('outcomes_per_min'))]);
  for (const [label, value] of figures) {
    cards.append(el('div', { class: 'card' }, el('dt', { text: label }), el('dd', { class: value.length > 10 ? 'small' : '', text: value })));
  }
  cards.dataset.state = 'ok';
}

// The cards only hold figures; the panels explain an empty or failed load.
function hideCards() {
  cards.hidden = true;
  delete cards.dataset.panel;
}
const crawlHint = 'No crawl yet: seed domains (xcensus seed) and run xcensus crawl.';
// Queue states that partition a crawl's jobs (retrying is part of queued).
const STATES = ['done', 'failed', 'queued', 'leased', 'cancelled'];

const health = new Panel(grid, {
  title: 'Job queue per crawl', wide: true, stacked: true,
  help: 'Jobs of each crawl by state, with the oldest lease, the last completion, recent outcomes and the ingest rate.',
});
health.run(async (p) => {
  let body;
  try {
    body = await loadInto(p, 'crawl_health', {}, crawlHint);
  } catch (e) {
    hideCards();
    throw e;
  }
  if (!body) {
    hideCards();
    return;
  }
  fillCards(body);
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
