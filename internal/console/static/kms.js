// KMS: keys with their aliases, state and rotation, and a key policy
// editor that validates the document before PutKeyPolicy.
import { h, field, errorBox, table, when, busy, paginate } from './ui.js';

// validatePolicy returns what is wrong with a key policy document, or ''.
// KMS checks it again; this catches typos before a round trip.
export function validatePolicy(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return 'Not valid JSON: ' + e.message;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'The policy must be a JSON object.';
  if (doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17') return 'Version must be "2012-10-17".';
  const sts = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  if (!sts.length) return 'Statement must hold at least one statement.';
  for (const [i, st] of sts.entries()) {
    const where = `Statement ${st && st.Sid ? '"' + st.Sid + '"' : i + 1}`;
    if (!st || typeof st !== 'object') return where + ' must be an object.';
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') return where + ': Effect must be "Allow" or "Deny".';
    if (!('Principal' in st) && !('NotPrincipal' in st)) return where + ': a key policy statement needs a Principal.';
    if (!('Action' in st) && !('NotAction' in st)) return where + ': Action is missing.';
    if (!('Resource' in st) && !('NotResource' in st)) return where + ': Resource is missing (use "*" in a key policy).';
  }
  return '';
}

export async function render(main, session) {
  const c = session.client;
  main.append(h('h1', {}, 'KMS keys'));
  const box = h('div', { id: 'keys' });
  const panel = h('div', { id: 'key-panel' });
  main.append(box, panel);
  let keys, aliases;
  try {
    [keys, aliases] = await Promise.all([
      paginate((t) => c.json('kms', 'TrentService.ListKeys', { Marker: t }).then((r) => ({ ...r, NextToken: r.Truncated ? r.NextMarker : '' })), 'Keys'),
      paginate((t) => c.json('kms', 'TrentService.ListAliases', { Marker: t }).then((r) => ({ ...r, NextToken: r.Truncated ? r.NextMarker : '' })), 'Aliases'),
    ]);
  } catch (e) {
    box.append(errorBox(e));
    return;
  }
  const byKey = new Map();
  for (const a of aliases) if (a.TargetKeyId) byKey.set(a.TargetKeyId, [...(byKey.get(a.TargetKeyId) || []), a.AliasName]);
  const rows = await Promise.all(keys.map(async (k) => {
    const row = { KeyId: k.KeyId, aliases: byKey.get(k.KeyId) || [] };
    try {
      Object.assign(row, (await c.json('kms', 'TrentService.DescribeKey', { KeyId: k.KeyId })).KeyMetadata);
    } catch (e) { row.error = e; }
    if (row.KeySpec === 'SYMMETRIC_DEFAULT' && row.KeyManager !== 'AWS') {
      try {
        row.rotation = (await c.json('kms', 'TrentService.GetKeyRotationStatus', { KeyId: k.KeyId })).KeyRotationEnabled ? 'on' : 'off';
      } catch (e) { row.rotation = e.code; }
    } else row.rotation = 'n/a';
    return row;
  }));

  const open = async (row, button) => {
    panel.replaceChildren();
    let policy;
    try {
      policy = (await busy(button, 'Reading the key policy', () => c.json('kms', 'TrentService.GetKeyPolicy', { KeyId: row.KeyId, PolicyName: 'default' }))).Policy;
    } catch (e) {
      panel.append(errorBox(e));
      return;
    }
    let pretty = policy;
    try { pretty = JSON.stringify(JSON.parse(policy), null, 2); } catch { /* shown as stored */ }
    const ta = h('textarea', { id: 'policy', rows: 18, spellcheck: false, value: pretty });
    const msg = h('div', { id: 'policy-msg', 'aria-live': 'polite' });
    const check = () => {
      const bad = validatePolicy(ta.value);
      msg.replaceChildren(bad ? h('p', { class: 'error', role: 'alert' }, bad) : h('p', { class: 'ok' }, 'The policy is well formed.'));
      if (bad) ta.setAttribute('aria-invalid', 'true'); else ta.removeAttribute('aria-invalid');
      return !bad;
    };
    const save = h('button', { type: 'submit', id: 'save-policy' }, 'Save policy');
    const form = h('form', { class: 'panel', 'aria-labelledby': 'policy-h' },
      h('h2', { id: 'policy-h' }, 'Key policy of ', row.aliases[0] || row.KeyId),
      field('Policy document (JSON)', ta, 'Checked here before PutKeyPolicy; KMS refuses a policy that would lock out the caller unless told otherwise.'),
      h('button', { type: 'button', id: 'validate-policy', onclick: check }, 'Validate'), save, msg);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!check()) return;
      try {
        await busy(save, 'Saving the key policy', () => c.json('kms', 'TrentService.PutKeyPolicy', { KeyId: row.KeyId, PolicyName: 'default', Policy: ta.value }));
        msg.replaceChildren(h('p', { class: 'ok', id: 'policy-saved' }, 'Saved.'));
      } catch (e2) { msg.replaceChildren(errorBox(e2)); }
    });
    panel.append(form);
    ta.focus();
  };

  const rotate = async (row, button) => {
    panel.replaceChildren();
    const op = row.rotation === 'on' ? 'DisableKeyRotation' : 'EnableKeyRotation';
    try {
      await busy(button, op, () => c.json('kms', 'TrentService.' + op, { KeyId: row.KeyId }));
      row.rotation = row.rotation === 'on' ? 'off' : 'on';
      button.textContent = row.rotation === 'on' ? 'Disable rotation' : 'Enable rotation';
      button.closest('tr').querySelector('.rotation').textContent = row.rotation;
    } catch (e) { panel.append(errorBox(e)); }
  };

  box.append(table('Keys', [
    ['Alias', (r) => r.aliases.join(', ') || '—'],
    ['Key ID', (r) => h('code', {}, r.KeyId)],
    ['State', (r) => h('span', { class: 'badge ' + String(r.KeyState || '').toLowerCase() }, r.KeyState || (r.error ? r.error.code : '—'))],
    ['Spec', (r) => `${r.KeySpec || '—'} · ${r.KeyUsage || ''}`],
    ['Rotation', (r) => h('span', { class: 'rotation' }, r.rotation)],
    ['Created', (r) => when(r.CreationDate)],
    ['Actions', (r) => {
      const name = r.aliases[0] || r.KeyId;
      const pol = h('button', { type: 'button', class: 'policy-btn', 'data-key': r.KeyId, 'aria-label': 'Edit the key policy of ' + name, onclick: () => open(r, pol) }, 'Key policy');
      const rot = r.rotation === 'on' || r.rotation === 'off'
        ? h('button', { type: 'button', 'aria-label': (r.rotation === 'on' ? 'Disable' : 'Enable') + ' rotation of ' + name, onclick: () => rotate(r, rot) }, r.rotation === 'on' ? 'Disable rotation' : 'Enable rotation')
        : null;
      return h('div', { class: 'actions' }, pol, rot);
    }],
  ], rows, { id: 'key-table' }));
}
