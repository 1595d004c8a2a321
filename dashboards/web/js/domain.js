// Domain page: without ?domain=, a searchable list of domains (domains);
// with it, the diagnosis of that domain (domain): its facts, a chart of what
// is held about it, the latest outcome of each probe (domain_probes), and the
// list to pick another.
import {
  Panel, barChart, dataTable, el, fmtValue, humanize, loadInto,
  pageReady, param, truncNote, bindForms,
} from './ui.js';

bindForms(['lookup'], 'domain.html');

const domain = param('domain').trim();
const q = param('q');
document.getElementById('domain').value = domain;
document.getElementById('q').value = q;
// as shown in headings: a hostile or mistyped name must not flood the page
const shown = domain.length > 80 ? `${domain.slice(0, 77)}…` : domain;
const grid = document.getElementById('panels');
const domainLink = (col, row) => (col === 'domain' && row.domain
  ? `domain.html?domain=${encodeURIComponent(row.domain)}` : null);
// Diagnosis columns that count what is held (charted); others are facts.
const isCount = (name, type) => type === 'integer' && !/(^id$|_id$|attempts|port|days|seconds|_ms$|_s$)/.test(name);

if (domain) {
  document.title = `${shown} · Domain · xcensus`;
  const diag = new Panel(grid, {
    title: `Diagnosis of ${shown}`, chart: false,
    help: 'The last crawl and success, the next crawl, opt-out and deny state, the server software, and counts of what is held.',
  });
  const held = new Panel(grid, { title: `What we hold about ${shown}`, help: 'Rows stored about this domain, by kind.' });
  diag.run(async (p) => {
    let body;
    try {
      body = await loadInto(p, 'domain', { domain },
        `The census knows nothing about ${shown}: it was never seeded or crawled.`);
    } catch (e) {
      held.showError(e);
      throw e;
    }
    if (!body) {
      held.showEmpty(`Nothing is held about ${shown}.`);
      return;
    }
    // one row: a list of facts, and the counts as a chart
    const row = body.rows[0];
    const dl = el('dl', { class: 'facts' });
    const counts = [];
    for (const c of body.columns) {
      if (c.name === 'probes') continue; // the probes panel lists them
      if (isCount(c.name, c.type)) counts.push(c.name);
      dl.append(el('dt', { text: humanize(c.name) }), el('dd', { text: fmtValue(c.type, row[c.name]) }));
    }
    p.body.append(dl);
    p.showOk(body.rows.length > 1 ? `${body.rows.length} rows; showing the first.` : '');
    held.run(async () => {
      held.clear();
      if (counts.length === 0) {
        held.showEmpty('The diagnosis lists no counts.');
        return;
      }
      barChart(held, {
        labels: counts.map(humanize),
        series: [{ label: 'Rows held', data: counts.map((c) => Number(row[c]) || 0) }],
        summary: `Bar chart: rows held about ${shown} by kind`,
        xTitle: 'Rows',
      });
      const kinds = {
        columns: [{ name: 'kind', type: 'text' }, { name: 'rows', type: 'integer' }],
        rows: counts.map((c) => ({ kind: humanize(c), rows: row[c] })),
      };
      held.body.append(dataTable(kinds, kinds.rows, { caption: `Held about ${shown}` }));
      held.showOk();
    });
  });

  const probes = new Panel(grid, {
    title: `Probes of ${shown}`, chart: false, wide: true,
    help: 'The latest outcome of each probe kind: its class, condition, detail, duration, when and in which crawl run.',
  });
  probes.run(async (p) => {
    const body = await loadInto(p, 'domain_probes', { domain }, `No probe of ${shown} is recorded.`);
    if (!body) return;
    p.body.append(dataTable(body, body.rows, { caption: `Latest probe outcomes of ${shown}` }));
    p.showOk(truncNote(body));
  });
}

const list = new Panel(grid, {
  title: q ? `Domains containing “${q}”` : 'Domains',
  help: 'Every known domain with its last crawl and state. Select one for its diagnosis.',
  chart: false, wide: !domain,
});
list.run(async (p) => {
  const body = await loadInto(p, 'domains', { q }, q ? `No domain contains “${q}”.` : 'No domain yet: seed some with xcensus seed.');
  if (!body) return;
  p.body.append(dataTable(body, body.rows, { caption: 'Known domains', link: domainLink }));
  p.showOk(truncNote(body));
});
pageReady();
