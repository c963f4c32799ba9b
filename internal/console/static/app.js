// The console's shell: configuration, credentials, routing between views.
// The access key lives in memory, or in this tab's sessionStorage when the
// user asks; never in a cookie, never sent anywhere but as signatures.
import { Client } from './api.js';
import { h, clear } from './ui.js';
import * as start from './start.js';
import * as pki from './pki.js';
import * as kms from './kms.js';
import * as secrets from './secrets.js';
import * as audit from './audit.js';
import * as mesh from './mesh.js';

const views = { start, pki, kms, secrets, audit, mesh };
const KEY = 'bulwark.console.credentials';

export const session = {
  config: { region: 'us-east-1', accountId: '' },
  client: null,
  identity: '',

  signIn(creds, identity, remember) {
    this.client = new Client(creds, this.config.region);
    this.identity = identity;
    if (remember) sessionStorage.setItem(KEY, JSON.stringify({ ...creds, identity }));
    else sessionStorage.removeItem(KEY);
    renderWho();
  },

  signOut() {
    this.client = null;
    this.identity = '';
    sessionStorage.removeItem(KEY);
    renderWho();
    location.hash = '#/start';
    route();
  },
};

function renderWho() {
  const who = clear(document.getElementById('who'));
  if (!session.client) return;
  who.append(h('span', { class: 'identity', title: session.identity }, session.identity),
    h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: () => session.signOut() }, 'Sign out'));
}

let cleanup = null;
let generation = 0;

async function route() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'start';
  const view = views[name] ? name : 'start';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (cleanup) cleanup();
  cleanup = null;
  const gen = ++generation;
  const main = clear(document.getElementById('main'));
  main.dataset.view = view;
  document.title = 'Bulwark console: ' + view;
  if (view !== 'start' && !session.client) {
    main.append(h('h1', {}, 'Sign in first'),
      h('p', {}, 'Every view calls the API with your access key. ', h('a', { href: '#/start' }, 'Sign in on the start page'), '.'));
    return;
  }
  // A view returns a function that stops what it started (polling); it is
  // called when the user navigates away, also if the view is still loading.
  const stop = await views[view].render(main, session, () => gen !== generation);
  if (gen === generation) cleanup = stop || null;
  else if (stop) stop();
}

async function init() {
  try {
    const resp = await fetch('config.json', { credentials: 'omit', cache: 'no-store' });
    if (resp.ok) session.config = { ...session.config, ...(await resp.json()) };
  } catch { /* the defaults stand */ }
  const saved = sessionStorage.getItem(KEY);
  if (saved) {
    try {
      const c = JSON.parse(saved);
      session.client = new Client({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, session.config.region);
      session.identity = c.identity || c.accessKeyId;
    } catch { sessionStorage.removeItem(KEY); }
  }
  renderWho();
  document.getElementById('skip').addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', route);
  route();
}

init();
