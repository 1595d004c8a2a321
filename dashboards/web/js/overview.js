// Overview page: the overview query as key-figure cards, the top server and
// client software as charts with tables, and what XEP-0232 forms cost caps
// caches according to the latest analysis.
import { change, drawRelative, headline } from './analysis.js';
import { fetchQuery } from './api.js';
import {
  Panel, barChart, columnType, dataTable, el, fmtNumber, fmtValue, humanize, loadInto,
  pageReady, pickColumn, track, sumBy, topN, truncNote,
} from './ui.js';

const cards = document.getElementById('cards');
const grid = document.getElementById('panels');

// Cards in this order when the columns exist; any other column follows.
const CARD_ORDER = [
  'domains', 'domains_crawled', 'servers_answering', 'components', 'rooms',
  'caps_hashes', 'caps_observations', 'client_software', 'features', 'crawl_runs',
  'last_crawl', 'last_analysis',
];
const CARD_LABELS = {
  domains: 'Domains known',
  rooms: 'Rooms observed',
  caps_hashes: 'Distinct caps hashes',
  client_software: 'Client software (caps nodes)',
  features: 'Features seen',
};

async function loadCards() {
  const status = el('p', { class: 'status loading', role: 'status', text: 'Loading…' });
  cards.before(status);
  try {
    const body = await fetchQuery('overview');
    if (body.rows.length === 0) {
      cards.dataset.state = 'empty';
      status.className = 'status empty';
      status.textContent = 'No data yet. Run xcensus migrate, import or crawl.';
      return;
    }
    const row = body.rows[0];
    const names = body.columns.map((c) => c.name);
    const ordered = [...CARD_ORDER.filter((n) => names.includes(n)), ...names.filter((n) => !CARD_ORDER.includes(n))];
    for (const n of ordered) {
      const t = columnType(body, n);
      const dd = el('dd', { class: t === 'timestamp' || t === 'text' ? 'small' : '', text: fmtValue(t, row[n]) });
      cards.append(el('div', { class: 'card' }, el('dt', { text: CARD_LABELS[n] || humanize(n) }), dd));
    }
    cards.dataset.state = 'ok';
    if (!row.domains && !row.caps_hashes) {
      status.className = 'status empty';
      status.textContent = 'The database holds nothing yet: import a caps collection (xcensus import capsdb FILE), '
        + 'or seed and crawl domains (xcensus seed, xcensus crawl), then xcensus analyze. scripts/demo does all of it on a local test network.';
    } else {
      status.remove();
    }
  } catch (e) {
    cards.dataset.state = 'error';
    status.className = 'status error';
    status.textContent = `Could not load the key figures: ${e.message}`;
  }
}

function softwarePanel(query, title, help, valueCandidates, hint, unit) {
  const p = new Panel(grid, { title, help });
  return p.run(async () => {
    const body = await loadInto(p, query, {}, hint);
    if (!body) return;
    const label = pickColumn(body, ['software', 'name', 'client', 'node'], ['text']);
    const value = pickColumn(body, valueCandidates, ['integer', 'number']);
    const pairs = topN(sumBy(body.rows, label, value), 10);
    barChart(p, {
      labels: pairs.map((x) => x[0]),
      series: [{ label: humanize(value), data: pairs.map((x) => x[1]) }],
      summary: `Bar chart: ${title.toLowerCase()}, ${unit} per software, top ${pairs.length}`,
      xTitle: humanize(value),
    });
    const sorted = pairs.map(([k, v]) => ({ [label]: k, [value]: v }));
    p.body.append(dataTable(body, sorted, { caption: `${title} (${unit})`, columns: [label, value] }));
    p.showOk(truncNote(body));
  });
}

track(loadCards());

softwarePanel('server_software', 'Server software', 'Servers by the software they report (XEP-0092), all versions together.',
  ['servers', 'count'], 'No server answered a version query yet: run a crawl (xcensus crawl).', 'servers');
softwarePanel('client_software', 'Client software', 'Clients by software, from caps nodes and XEP-0232 forms.',
  ['observations', 'hashes', 'clients', 'count'], 'No client caps yet: import capsdb or crawl rooms.', 'observations');
const cost = new Panel(grid, {
  title: 'What XEP-0232 forms cost caps caches',
  wide: true,
  help: 'The latest analysis: each figure without the forms, in percent of the figure with them. Details on the XEP-0232 page.',
});
cost.run(async (p) => {
  const body = await loadInto(p, 'analysis_latest', {}, 'No analysis yet: run xcensus analyze.');
  if (!body) return;
  const h = headline(body);
  if (h.rows.length === 0) {
    p.showEmpty('The latest analysis has no figure counted both with and without the forms.');
    return;
  }
  drawRelative(p, body, h);
  const r = h.rows[0];
  const c = change(h, r);
  p.showOk(`${r[h.mcol]}: ${fmtNumber(r[h.wcol])} with the forms, ${fmtNumber(r[h.wocol])} without (${c > 0 ? '+' : ''}${c.toFixed(1)} %).`);
});
pageReady();
