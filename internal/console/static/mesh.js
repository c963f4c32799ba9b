// Mesh: virtual gateways, services, routers and nodes of each mesh as a
// graph, each edge into a virtual node marked with the TLS that node's
// listener enforces (mutual, one-way, none), and the data planes connected
// to the xDS server with their configuration versions, refreshed live.
import { h, s, errorBox, table, when, paginate, replaceKeepingFocus } from './ui.js';

const POLL_MS = 4000;

const V = ['v20190125', 'meshes'];

function listenerTLS(spec) {
  const tls = ((spec && spec.listeners) || [])[0];
  const t = tls && tls.tls;
  if (!t || t.mode === 'DISABLED') return 'none';
  return t.validation ? 'mutual' : 'one-way';
}

async function load(c, mesh) {
  const list = (kind, key) => c.rest('appmesh', 'GET', [...V, mesh, kind]).then((r) => (r[key] || []));
  // Describe answers carry the resource itself as the payload.
  const desc = (path) => c.rest('appmesh', 'GET', [...V, mesh, ...path]);
  const [nodes, services, routers, gateways] = await Promise.all([
    list('virtualNodes', 'virtualNodes'), list('virtualServices', 'virtualServices'),
    list('virtualRouters', 'virtualRouters'), list('virtualGateways', 'virtualGateways')]);
  const g = { nodes: [], edges: [] };
  const mode = {};
  await Promise.all(nodes.map(async (n) => {
    const d = await desc(['virtualNodes', n.virtualNodeName], 'virtualNode');
    mode[n.virtualNodeName] = listenerTLS(d.spec);
    g.nodes.push({ id: 'node:' + n.virtualNodeName, col: 3, label: n.virtualNodeName, tls: mode[n.virtualNodeName] });
    for (const b of (d.spec && d.spec.backends) || []) {
      if (b.virtualService) g.edges.push({ from: 'node:' + n.virtualNodeName, to: 'service:' + b.virtualService.virtualServiceName, kind: 'backend' });
    }
  }));
  await Promise.all(services.map(async (v) => {
    const d = await desc(['virtualServices', v.virtualServiceName], 'virtualService');
    g.nodes.push({ id: 'service:' + v.virtualServiceName, col: 1, label: v.virtualServiceName });
    const p = (d.spec && d.spec.provider) || {};
    if (p.virtualNode) g.edges.push({ from: 'service:' + v.virtualServiceName, to: 'node:' + p.virtualNode.virtualNodeName, tls: true });
    if (p.virtualRouter) g.edges.push({ from: 'service:' + v.virtualServiceName, to: 'router:' + p.virtualRouter.virtualRouterName });
  }));
  await Promise.all(routers.map(async (r) => {
    g.nodes.push({ id: 'router:' + r.virtualRouterName, col: 2, label: r.virtualRouterName });
    const routes = await c.rest('appmesh', 'GET', [...V, mesh, 'virtualRouter', r.virtualRouterName, 'routes']).then((x) => x.routes || []);
    await Promise.all(routes.map(async (rt) => {
      const d = await desc(['virtualRouter', r.virtualRouterName, 'routes', rt.routeName], 'route');
      const sp = d.spec || {};
      const route = sp.httpRoute || sp.http2Route || sp.grpcRoute || sp.tcpRoute || {};
      for (const w of (route.action && route.action.weightedTargets) || []) {
        g.edges.push({ from: 'router:' + r.virtualRouterName, to: 'node:' + w.virtualNode, tls: true, label: `${rt.routeName} ${w.weight}` });
      }
    }));
  }));
  await Promise.all(gateways.map(async (gw) => {
    const d = await desc(['virtualGateways', gw.virtualGatewayName], 'virtualGateway');
    g.nodes.push({ id: 'gateway:' + gw.virtualGatewayName, col: 0, label: gw.virtualGatewayName, tls: listenerTLS(d.spec) });
    const grs = await c.rest('appmesh', 'GET', [...V, mesh, 'virtualGateway', gw.virtualGatewayName, 'gatewayRoutes']).then((x) => x.gatewayRoutes || []);
    await Promise.all(grs.map(async (gr) => {
      const dd = await desc(['virtualGateway', gw.virtualGatewayName, 'gatewayRoutes', gr.gatewayRouteName], 'gatewayRoute');
      const sp = dd.spec || {};
      const route = sp.httpRoute || sp.http2Route || sp.grpcRoute || {};
      const vs = route.action && route.action.target && route.action.target.virtualService;
      if (vs) g.edges.push({ from: 'gateway:' + gw.virtualGatewayName, to: 'service:' + vs.virtualServiceName, label: gr.gatewayRouteName });
    }));
  }));
  // An edge into a virtual node carries that node's listener TLS; a
  // backend edge is as strong as the TLS of whatever serves the service.
  for (const e of g.edges) {
    if (e.to.startsWith('node:')) e.mode = mode[e.to.slice(5)] || 'none';
  }
  return g;
}

function draw(g) {
  const cols = [[], [], [], []];
  for (const n of g.nodes) cols[n.col].push(n);
  cols.forEach((c) => c.sort((a, b) => (a.label < b.label ? -1 : 1)));
  const W = 960, bw = 190, bh = 34, gap = 20;
  const H = 50 + Math.max(1, ...cols.map((c) => c.length)) * (bh + gap);
  const pos = {};
  cols.forEach((c, i) => c.forEach((n, j) => { pos[n.id] = { x: 10 + i * ((W - bw - 20) / 3), y: 40 + j * (bh + gap) }; }));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'timeline mesh-graph', role: 'img', 'aria-label': `Mesh graph: ${g.nodes.length} resources, ${g.edges.length} edges; the edge table below lists them` });
  ['Virtual gateways', 'Virtual services', 'Virtual routers', 'Virtual nodes'].forEach((t, i) => svg.append(s('text', { x: 10 + i * ((W - bw - 20) / 3), y: 20, class: 'axis' }, t)));
  for (const e of g.edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    const x1 = a.x + bw, y1 = a.y + bh / 2;
    const back = b.x <= a.x;
    const x2 = back ? b.x + bw : b.x, y2 = b.y + bh / 2;
    const d = back ? `M${a.x} ${y1} C ${a.x - 60} ${y1 + 40}, ${x2 + 60} ${y2 + 40}, ${x2} ${y2}` : `M${x1} ${y1} C ${x1 + 50} ${y1}, ${x2 - 50} ${y2}, ${x2} ${y2}`;
    svg.append(s('path', { d, class: 'edge ' + (e.mode ? e.mode.replace('-', '') : 'logical'), 'data-from': e.from, 'data-to': e.to, 'data-tls': e.mode || '' },
      s('title', {}, `${e.from} → ${e.to}${e.mode ? ' (TLS: ' + e.mode + ')' : ''}`)));
  }
  for (const n of g.nodes) {
    const p = pos[n.id];
    svg.append(s('g', { class: 'node', 'data-id': n.id },
      s('rect', { x: p.x, y: p.y, width: bw, height: bh, rx: 6 }),
      s('text', { x: p.x + 8, y: p.y + 21 }, n.label.slice(0, 24) + (n.tls ? ` · ${n.tls}` : ''))));
  }
  return h('figure', { class: 'timeline-box' }, svg, h('figcaption', {},
    h('span', { class: 'key mutual' }), ' mutual TLS ', h('span', { class: 'key oneway' }), ' one-way TLS ', h('span', { class: 'key none' }), ' no TLS (into a virtual node, from its listener); grey: routing; ', h('span', { class: 'key connected' }), ' a data plane is connected'));
}

// shortType turns a type URL into its resource type ("Listener").
const shortType = (u) => String(u).split('.').pop();

// tlsCounts shows a proxy's listener TLS counters, as its data planes
// last reported them over their xDS connection (Envoy's
// listener.<address>.ssl.handshake, .no_certificate and the
// .fail_verify_* sum).
function tlsCounts(p) {
  const ls = Object.keys(p.TlsCounters || {}).sort();
  if (!ls.length) return h('span', { class: 'muted' }, 'not reported');
  return h('div', { class: 'tls-counts' }, ls.map((l) => {
    const x = p.TlsCounters[l];
    return h('div', { 'data-listener': l },
      h('code', {}, l), ' ',
      h('span', { class: 'handshakes', title: 'completed TLS handshakes (ssl.handshake)' }, `${x.Handshake} handshakes`), ' · ',
      h('span', { class: 'no-cert', title: 'handshakes where the client sent no certificate (ssl.no_certificate)' }, `${x.NoCertificate} without certificate`), ' · ',
      h('span', { class: 'verify-failed' + (x.VerifyFailed ? ' badge failed' : ''), title: 'handshakes refused: client certificate missing or not verified (ssl.fail_verify_*)' }, `${x.VerifyFailed} refused`));
  }), h('div', { class: 'muted' }, (p.CounterReporters ? `${p.CounterReporters} reporting, ` : 'disconnected, last report ') + when(p.CountersUpdatedAt)));
}

// proxyTable lists a mesh's connected data planes: open streams, the
// configuration version served, the last version each type acknowledged,
// the last configuration refused, with the data plane's error, and the
// listeners' TLS handshake counts (once per proxy).
function proxyTable(mesh, proxies) {
  const rows = [];
  for (const p of proxies) {
    if (!p.Configurations.length) rows.push({ p, c: null, first: true });
    p.Configurations.forEach((c, i) => rows.push({ p, c, first: i === 0 }));
  }
  return table(`Data planes connected to the xDS server (${proxies.length})`, [
    ['Resource', ({ p }) => h('span', { title: p.ResourceArn }, `${p.ResourceType === 'virtualGateway' ? 'gateway' : 'node'} ${p.ResourceName}`)],
    ['Streams', ({ c }) => (c ? String(c.Streams) : '0')],
    ['Version served', ({ c }) => (c ? h('code', {}, c.Version) : '—')],
    ['Acknowledged', ({ c }) => (!c ? '—' : c.Acked.length ? c.Acked.map((a) => h('div', {},
      h('span', { class: 'badge ' + (a.Version === c.Version ? 'issued' : 'pending') }, shortType(a.TypeUrl)), ' ', h('code', {}, a.Version))) : 'nothing yet')],
    ['Last refused (NACK)', ({ c }) => (c && c.LastNack ? h('div', { class: 'nack' },
      h('span', { class: 'badge failed' }, shortType(c.LastNack.TypeUrl)), ' ', h('code', {}, c.LastNack.Version || '?'), ' ', when(c.LastNack.Time),
      h('div', { class: 'nack-msg' }, c.LastNack.Message)) : '—')],
    ['TLS handshakes', ({ p, first }) => (first ? tlsCounts(p) : '″')],
  ], rows, { class: 'mesh-proxies', 'data-mesh': mesh });
}

export async function render(main, session, stale) {
  const c = session.client;
  main.append(h('h1', {}, 'Service mesh'));
  const box = h('div', { id: 'mesh' });
  main.append(box);
  let meshes;
  try {
    meshes = (await c.rest('appmesh', 'GET', V)).meshes || [];
  } catch (e) {
    box.append(errorBox(e));
    return;
  }
  if (!meshes.length) box.append(h('p', {}, 'No mesh yet: aws appmesh create-mesh --mesh-name demo (see docs/appmesh.md).'));
  const live = [];
  for (const m of meshes.slice(0, 10)) {
    const sec = h('section', { 'aria-label': 'Mesh ' + m.meshName, 'data-mesh': m.meshName }, h('h2', {}, m.meshName));
    box.append(sec);
    const proxies = h('div', { class: 'proxies', 'aria-live': 'polite' });
    try {
      const g = await load(c, m.meshName);
      const label = (id) => id.replace(':', ' ');
      sec.append(draw(g), table('Edges of ' + m.meshName, [
        ['From', (e) => label(e.from)], ['To', (e) => label(e.to)], ['Route', (e) => e.label || '—'],
        ['TLS', (e) => (e.mode ? h('span', { class: 'badge tls-' + e.mode }, e.mode) : 'routing')],
      ], g.edges, { class: 'mesh-edges' }));
    } catch (e) { sec.append(errorBox(e)); }
    sec.append(h('h3', {}, 'Connected data planes'), proxies);
    // A refusal here (no bulwark:ListConnectedProxies) leaves the graph.
    let shown = null;
    const refresh = async () => {
      try {
        const list = await paginate((t) => c.json('bulwark', 'BulwarkMesh.ListConnectedProxies', { MeshName: m.meshName, NextToken: t }), 'Proxies');
        // Redrawn only when something changed, and without moving the
        // keyboard user's focus when it did.
        const sig = JSON.stringify(list);
        if (sig === shown) return;
        shown = sig;
        replaceKeepingFocus(proxies, proxyTable(m.meshName, list));
        for (const n of sec.querySelectorAll('g.node')) {
          const [kind, name] = n.dataset.id.split(':');
          const p = list.find((x) => x.ResourceName === name && (kind === 'gateway' ? x.ResourceType === 'virtualGateway' : x.ResourceType === 'virtualNode'));
          // A proxy listed only for its last reported counters (its streams
          // closed within the server's retention) is not connected.
          n.classList.toggle('connected', !!(p && (p.Streams > 0 || p.CounterReporters > 0)));
          n.classList.toggle('refused', !!(p && p.Configurations.some((cf) => cf.LastNack)));
        }
      } catch (e) { shown = null; replaceKeepingFocus(proxies, errorBox(e)); }
    };
    live.push(refresh);
  }
  if (stale && stale()) return;
  await Promise.all(live.map((r) => r()));
  let timer = setInterval(() => { if (!document.hidden) live.forEach((r) => r()); }, POLL_MS);
  return () => { clearInterval(timer); timer = null; };
}
