// Software page: server software and versions, component software, client
// software; each a ranking chart with the full table beside it.
import { pageReady, rankPanel } from './ui.js';

const grid = document.getElementById('panels');
const crawlHint = 'Servers are counted from their XEP-0092 answers: run a crawl (xcensus crawl).';

rankPanel(grid, {
  query: 'server_software', title: 'Server software',
  help: 'Servers per software (all versions together), from each server’s latest XEP-0092 answer.',
  labels: ['software', 'name'], values: ['servers', 'count'], sum: true, hint: crawlHint,
});
rankPanel(grid, {
  query: 'server_versions', title: 'Server versions',
  help: 'The most common software versions among servers, with their share of all servers.',
  labels: ['software', 'name', 'version'], labelCount: 2, values: ['servers', 'count'], hint: crawlHint, top: 15,
});
rankPanel(grid, {
  query: 'component_software', title: 'Component software',
  help: 'Components (MUC, pubsub, proxies, gateways, …) by category/type and the software they report.',
  labels: ['software', 'name'], values: ['components', 'count', 'entities'], sum: true,
  hint: 'Components are found through each server’s disco#items: run a crawl.',
});
rankPanel(grid, {
  query: 'client_software', title: 'Client software',
  help: 'Client software from caps nodes and XEP-0232 forms: distinct caps hashes and observations.',
  labels: ['software', 'name', 'node'], values: ['observations', 'hashes', 'clients', 'count'], sum: true, top: 15,
  columns: ['software', 'hashes', 'with_xep0232', 'observations', 'share'],
  hint: 'Client caps come from room presences (xcensus crawl) or an import (xcensus import capsdb).',
});
pageReady();
