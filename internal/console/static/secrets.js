// Secrets Manager: secrets, their versions and staging labels. A value is
// fetched only when the user asks (GetSecretValue, recorded in the audit
// log like any other call) and can be hidden again.
import { h, errorBox, table, when, busy, paginate } from './ui.js';

export async function render(main, session) {
  const c = session.client;
  main.append(h('h1', {}, 'Secrets'));
  const box = h('div', { id: 'secrets' });
  const panel = h('div', { id: 'secret-panel' });
  main.append(box, panel);
  let list;
  try {
    list = await paginate((t) => c.json('secretsmanager', 'secretsmanager.ListSecrets', { NextToken: t }), 'SecretList');
  } catch (e) {
    box.append(errorBox(e));
    return;
  }
  const open = async (sec, button) => {
    panel.replaceChildren();
    let versions;
    try {
      versions = await busy(button, 'Reading versions', () => paginate((t) => c.json('secretsmanager', 'secretsmanager.ListSecretVersionIds', { SecretId: sec.ARN, NextToken: t }), 'Versions'));
    } catch (e) {
      panel.append(errorBox(e));
      return;
    }
    const show = (v, btn, cell) => async () => {
      if (cell.firstChild) {
        cell.replaceChildren();
        btn.textContent = 'Show value';
        btn.setAttribute('aria-expanded', 'false');
        return;
      }
      try {
        const r = await busy(btn, 'Reading the value', () => c.json('secretsmanager', 'secretsmanager.GetSecretValue', { SecretId: sec.ARN, VersionId: v.VersionId }));
        const text = r.SecretString !== undefined ? r.SecretString : `(binary, ${atob(r.SecretBinary || '').length} bytes)`;
        cell.replaceChildren(h('pre', { class: 'secret-value', tabindex: 0 }, text));
        btn.textContent = 'Hide value';
        btn.setAttribute('aria-expanded', 'true');
      } catch (e) { cell.replaceChildren(errorBox(e)); }
    };
    panel.append(h('section', { class: 'panel', 'aria-labelledby': 'versions-h' },
      h('h2', { id: 'versions-h' }, 'Versions of ', sec.Name),
      table('Versions', [
        ['Version', (v) => h('code', {}, v.VersionId)],
        ['Stages', (v) => (v.VersionStages || []).map((st) => h('span', { class: 'badge' }, st))],
        ['Created', (v) => when(v.CreatedDate)],
        ['Value', (v) => {
          const cell = h('div', { class: 'value', id: 'value-' + v.VersionId });
          const btn = h('button', { type: 'button', class: 'show-value', 'aria-expanded': 'false', 'aria-controls': cell.id, 'aria-label': `Show the value of version ${v.VersionId}` }, 'Show value');
          btn.addEventListener('click', show(v, btn, cell));
          return h('div', {}, btn, cell);
        }],
      ], versions, { id: 'version-table' })));
  };
  box.append(table('Secrets', [
    ['Name', (x) => x.Name],
    ['Description', (x) => x.Description || '—'],
    ['Rotation', (x) => (x.RotationEnabled ? 'on' : 'off')],
    ['Changed', (x) => when(x.LastChangedDate)],
    ['Versions', (x) => {
      const b = h('button', { type: 'button', class: 'versions-btn', 'aria-label': 'Versions of ' + x.Name, onclick: () => open(x, b) }, 'Versions');
      return b;
    }],
  ], list, { id: 'secret-table' }));
}
