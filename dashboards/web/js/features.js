// Features page: adoption over time (feature_adoption), namespace search
// (features), versions of one namespace (namespace_versions), and, given an
// old namespace and its successor, who would be left behind (deprecation,
// drop_impact). The forms put their values into the page's URL, so every
// view can be linked and the browser's back button works.
import { LIMIT_MAX, fetchQuery } from './api.js';
import {
  Panel, barChart, dataTable, humanize, lineChart, loadInto, pageReady, param,
  pickColumn, rankPanel, truncNote, bindForms,
} from './ui.js';

bindForms(['search', 'deprecation'], 'features.html');

const q = param('q');
const base = param('base') || versionBase(q) || 'urn:xmpp:mam';
const oldNs = param('old');
const newNs = param('new');
for (const [id, v] of [['q', q], ['base', param('base')], ['old', oldNs], ['new', newNs]]) {
  document.getElementById(id).value = v;
}
// The versioned family of a namespace: urn:xmpp:mam:2 -> urn:xmpp:mam.
function versionBase(ns) {
  const m = /^(.+):\d+$/.exec(ns || '');
  return m ? m[1] : '';
}

const grid = document.getElementById('panels');
const depGrid = document.getElementById('dep-panels');
const featureLink = (col, row) => (col === 'feature' || col === 'namespace') && row[col]
  ? `features.html?q=${encodeURIComponent(row[col])}` : null;

// The adoption rows to chart: with a search, those of the features containing
// it; without, those of the eight features most servers advertise (one
// request each, so that a long history cannot push them out of a page).
async function adoptionRows() {
  if (q) return fetchQuery('feature_adoption', { feature: q }, LIMIT_MAX);
  const all = await fetchQuery('features', {}, LIMIT_MAX);
  const top = all.rows.filter((r) => Number(r.servers) > 0)
    .sort((a, b) => Number(b.servers) - Number(a.servers)).slice(0, 8).map((r) => r.feature);
  if (top.length === 0) return { columns: [], rows: [], next: null };
  const parts = await Promise.all(top.map((f) => fetchQuery('feature_adoption', { feature: f }, LIMIT_MAX)));
  return {
    columns: parts[0].columns,
    rows: parts.flatMap((b, i) => b.rows.filter((r) => r.feature === top[i])),
    next: parts.some((b) => b.next) ? 'more' : null,
  };
}

// Adoption over time: one line per feature (the 8 most advertised on the
// latest day), share of servers per crawl day.
const adoption = new Panel(grid, {
  title: q ? `Adoption over time: “${q}”` : 'Adoption over time',
  help: q ? 'Share of the servers crawled that day whose disco#info lists each feature (the eight most advertised on the latest day).'
    : 'Share of the servers crawled that day whose disco#info lists each of the eight features most servers advertise. Search a namespace to chart others.',
  wide: true,
});
adoption.run(async (p) => {
  const body = await adoptionRows();
  p.clear();
  if (body.rows.length === 0) {
    p.showEmpty(q ? `No server advertised a feature containing “${q}” in any crawl.` : 'Adoption over time needs crawls: run xcensus crawl on several days.');
    return;
  }
  const fcol = pickColumn(body, ['feature', 'namespace', 'var'], ['text']);
  const dcol = pickColumn(body, ['day', 'date', 'crawl_day', 'observed_on'], ['timestamp']);
  const vcol = pickColumn(body, ['share', 'percent'], null) || pickColumn(body, ['entities', 'count'], ['integer', 'number']);
  const kind = pickColumn(body, ['kind'], null);
  const seriesOf = (r) => (kind ? `${r[fcol]} (${r[kind]})` : String(r[fcol]));
  const days = [...new Set(body.rows.map((r) => String(r[dcol]).slice(0, 10)))].sort();
  const last = days[days.length - 1];
  const byName = new Map();
  for (const r of body.rows) {
    const s = seriesOf(r);
    if (!byName.has(s)) byName.set(s, new Map());
    byName.get(s).set(String(r[dcol]).slice(0, 10), Number(r[vcol]));
  }
  const names = [...byName.keys()]
    .sort((a, b) => (byName.get(b).get(last) || 0) - (byName.get(a).get(last) || 0) || a.localeCompare(b))
    .slice(0, 8);
  const percent = /share|percent/.test(vcol);
  lineChart(p, {
    labels: days,
    series: names.map((n) => ({ label: n, data: days.map((d) => (byName.get(n).has(d) ? byName.get(n).get(d) : null)) })),
    summary: `Line chart: ${humanize(vcol).toLowerCase()} per crawl day for ${names.length} features`,
    yTitle: percent ? 'Share of servers (%)' : humanize(vcol),
    xTitle: 'Crawl day',
    percent,
  });
  p.body.append(dataTable(body, body.rows.filter((r) => names.includes(seriesOf(r))),
    { caption: 'Adoption per day (charted features)', link: featureLink, columns: [dcol, fcol, vcol, 'servers', 'servers_total', kind].filter(Boolean) }));
  p.showOk(truncNote(body));
});

rankPanel(grid, {
  query: 'features', params: { q },
  title: q ? `Namespaces containing “${q}”` : 'Most advertised namespaces',
  help: 'Servers and clients advertising each feature in their latest disco#info. Select a namespace to search it.',
  labels: ['feature', 'namespace', 'var'], values: ['total', 'servers', 'clients'], top: 15,
  hint: q ? `No feature contains “${q}”.` : 'No disco#info yet: import capsdb or run a crawl.',
  link: featureLink,
});

// Versions of one namespace family, servers and clients side by side.
const versions = new Panel(grid, {
  title: `Versions of ${base}`,
  help: 'Each versioned namespace of the family: servers and clients advertising it, and those advertising no other version of it (“only”).',
});
versions.run(async (p) => {
  const body = await loadInto(p, 'namespace_versions', { base },
    `No namespace ${base}:N was seen. Enter another base (e.g. urn:xmpp:carbons).`);
  if (!body) return;
  const ncol = pickColumn(body, ['namespace', 'feature', 'var'], ['text']);
  const want = ['servers', 'servers_only', 'clients', 'clients_only'];
  let cols = want.filter((c) => body.columns.some((x) => x.name === c));
  if (cols.length === 0) cols = body.columns.filter((c) => c.type === 'integer').map((c) => c.name).slice(0, 4);
  barChart(p, {
    labels: body.rows.map((r) => r[ncol]),
    series: cols.map((c) => ({ label: humanize(c), data: body.rows.map((r) => Number(r[c]) || 0) })),
    summary: `Grouped bar chart: ${cols.map(humanize).join(', ').toLowerCase()} per version of ${base}`,
  });
  p.body.append(dataTable(body, body.rows, { caption: `Versions of ${base}`, link: featureLink }));
  p.showOk(truncNote(body));
});

// Deprecation: only when both namespaces are given.
if (oldNs && newNs) {
  const dep = new Panel(depGrid, {
    title: `Advertise ${oldNs} but not ${newNs}`,
    help: 'Entities that would be left behind if the old namespace were retired, by kind and software.',
  });
  dep.run(async (p) => {
    const body = await loadInto(p, 'deprecation', { old: oldNs, new: newNs },
      `Everyone who advertises ${oldNs} also advertises ${newNs}.`);
    if (!body) return;
    const label = ['kind', 'software'].filter((c) => body.columns.some((x) => x.name === c));
    const value = pickColumn(body, ['old_only', 'entities', 'count'], ['integer']);
    const rows = [...body.rows].sort((a, b) => Number(b[value]) - Number(a[value])).slice(0, 15);
    barChart(p, {
      labels: rows.map((r) => label.map((c) => r[c] || '(unknown)').join(' · ')),
      series: [{ label: humanize(value), data: rows.map((r) => Number(r[value]) || 0) }],
      summary: `Bar chart: ${humanize(value).toLowerCase()} advertising ${oldNs} without ${newNs}`,
      xTitle: humanize(value),
    });
    p.body.append(dataTable(body, body.rows, { caption: 'Left behind' }));
    p.showOk(truncNote(body));
  });
  const drop = new Panel(depGrid, {
    title: `Who breaks if ${oldNs} is dropped`, chart: false,
    help: 'Entities that advertise only this namespace of its family.',
  });
  drop.run(async (p) => {
    const body = await loadInto(p, 'drop_impact', { feature: oldNs },
      `Nobody advertises ${oldNs} alone among its family.`);
    if (!body) return;
    p.body.append(dataTable(body, body.rows, { caption: `Only ${oldNs}` }));
    p.showOk(truncNote(body));
  });
} else {
  const hint = document.createElement('p');
  hint.className = 'help';
  hint.textContent = 'Enter an old namespace and its successor to list who advertises the old one only.';
  depGrid.append(hint);
}
pageReady();
