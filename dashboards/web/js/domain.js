// Domain page: without ?domain=, a searchable list of domains (domains);
// with it, the diagnosis of that domain (domain): its facts, a chart of
// what is held about it, and the list to pick another.
import {
  Panel, barChart, columnType, dataTable, el, fmtValue, humanize, loadInto,
  pageReady, param, truncNote, bindForms,
} from './ui.js';

bindForms(['lookup'], 'domain.html');

const domain = param('domain').trim();
const q = param('q');
const input = document.getElementById('domain');
input.value = domain;
const grid = document.getElementById('panels');
const domainLink = (col, row) => (col === 'domain' && row.domain
  ? `domain.html?domain=${encodeURIComponent(row.domain)}` : null);
// Diagnosis columns that count what is held (charted); others are facts.
const isCount = (name, type) => type === 'integer' && !/(^id$|_id$|attempts|port|days|seconds|_s$)/.test(name);

if (domain) {
  document.title = `${domain} · Domain · xcensus`;
  const diag = new Panel(grid, {
    title: `Diagnosis of ${domain}`,
    help: 'The last crawl and success, each probe’s outcome, the next crawl, opt-out and deny state.',
    chart: false,
  });
  const held = new Panel(grid, { title: `What we hold about ${domain}`, help: 'Rows stored about this domain, by kind.' });
  diag.run(async (p) => {
    const body = await loadInto(p, 'domain', { domain },
      `The census knows nothing about ${domain}: it was never seeded or crawled.`);
    if (!body) {
      held.showEmpty(`Nothing is held about ${domain}.`);
      return;
    }
    if (body.rows.length === 1) {
      // one row: a list of facts, and the counts as a chart
      const row = body.rows[0];
      const dl = el('dl', { class: 'facts' });
      const counts = [];
      for (const c of body.columns) {
        if (isCount(c.name, c.type)) counts.push(c.name);
        if (c.name === 'probes') continue; // listed by the probes panel
        dl.append(el('dt', { text: humanize(c.name) }), el('dd', { text: fmtValue(c.type, row[c.name]) }));
      }
      p.body.append(dl);
      if (counts.length) {
        held.run(async () => {
          barChart(held, {
            labels: counts.map(humanize),
            series: [{ label: 'Rows held', data: counts.map((c) => Number(row[c]) || 0) }],
            summary: `Bar chart: rows held about ${domain} by kind`,
            xTitle: 'Rows',
          });
          held.body.append(dataTable(body, [row], { columns: counts, caption: `Held about ${domain}` }));
          held.showOk();
        });
      } else {
        held.showEmpty('The diagnosis lists no counts.');
      }
    } else {
      // several rows (e.g. one per probe): the table, and counts per row label
      p.body.append(dataTable(body, body.rows, { caption: `Diagnosis of ${domain}` }));
      const num = body.columns.find((c) => isCount(c.name, c.type));
      const lab = body.columns.find((c) => c.type === 'text');
      if (num && lab) {
        held.run(async () => {
          barChart(held, {
            labels: body.rows.map((r) => fmtValue(columnType(body, lab.name), r[lab.name])),
            series: [{ label: humanize(num.name), data: body.rows.map((r) => Number(r[num.name]) || 0) }],
            summary: `Bar chart: ${humanize(num.name).toLowerCase()} per ${humanize(lab.name).toLowerCase()} for ${domain}`,
          });
          held.showOk();
        });
      } else {
        held.showEmpty('The diagnosis lists no counts.');
      }
    }
    p.showOk(truncNote(body));
  });

  const probes = new Panel(grid, {
    title: `Probes of ${domain}`, chart: false, wide: true,
    help: 'The latest outcome of each probe kind: its class, condition, detail, duration, when and in which crawl run.',
  });
  probes.run(async (p) => {
    const body = await loadInto(p, 'domain_probes', { domain }, `No probe of ${domain} is recorded.`);
    if (!body) return;
    p.body.append(dataTable(body, body.rows, { caption: `Latest probe outcomes of ${domain}` }));
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
