// Audit: events newest first, searchable and paginated, with the chain's
// verification status. Reads through BulwarkAudit (docs/console.md), which
// is authorized and audited like every API.
import { h, field, errorBox, table, when, busy } from './ui.js';

export async function render(main, session) {
  const c = session.client;
  main.append(h('h1', {}, 'Audit log'));
  const chain = h('div', { id: 'chain', 'aria-live': 'polite' });
  const verifyBtn = h('button', { type: 'button', id: 'verify' }, 'Verify the chain');
  const verify = async () => {
    try {
      const v = await busy(verifyBtn, 'Verifying the audit log', () => c.json('bulwark', 'BulwarkAudit.VerifyAuditLog', {}));
      chain.replaceChildren(v.Intact
        ? h('p', { class: 'ok', id: 'chain-ok' }, `Chain intact: ${v.Lines} lines in ${v.Files} file(s), ${v.MacVerified} event MACs and ${v.SignedCheckpoints} signed checkpoints verified`,
          v.UnsignedTail ? `; ${v.UnsignedTail} lines after the last signed checkpoint` : '', ` (checked ${when(v.CheckedAt)}).`)
        : h('div', { class: 'error', role: 'alert', id: 'chain-broken' }, `Chain BROKEN at ${v.Broken.File || 'the log'} line ${v.Broken.Line}: ${v.Broken.Reason}. Run bulwark audit verify on the server.`));
    } catch (e) { chain.replaceChildren(errorBox(e)); }
  };
  verifyBtn.addEventListener('click', verify);

  const text = h('input', { id: 'audit-text', type: 'search', spellcheck: false, autocapitalize: 'off', placeholder: 'e.g. CreateKey, a key id, a user' });
  const attr = h('select', { id: 'audit-attr' }, [['', 'anywhere in the event'], ['EventName', 'event name'], ['Username', 'user (name or ARN)'], ['EventSource', 'event source'], ['ResourceName', 'resource ARN'], ['ErrorCode', 'error code']]
    .map(([v, l]) => h('option', { value: v }, l)));
  const search = h('button', { type: 'submit', id: 'audit-search' }, 'Search');
  const results = h('div', { id: 'audit-results' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Older events');
  let token = '';
  let rows = [];

  const load = async (button, reset) => {
    const input = { MaxResults: 50 };
    const q = text.value.trim();
    if (q && attr.value) input.LookupAttributes = [{ AttributeKey: attr.value, AttributeValue: q }];
    else if (q) input.Text = q;
    if (!reset && token) input.NextToken = token;
    try {
      const out = await busy(button, 'Reading events', () => c.json('bulwark', 'BulwarkAudit.LookupEvents', input));
      rows = reset ? out.Events : rows.concat(out.Events);
      token = out.NextToken || '';
      more.hidden = !token;
      results.replaceChildren(table(`Events, newest first (${rows.length} shown)`, [
        ['Time', (e) => when(e.EventTime)],
        ['Who', (e) => h('span', { title: e.PrincipalArn || '' }, e.Username || e.AccessKeyId || 'anonymous')],
        ['What', (e) => `${e.EventSource.replace('.amazonaws.com', '')}:${e.EventName}`],
        ['Resource', (e) => (e.Resources || []).slice(0, 3).map((r) => h('div', {}, h('code', {}, r.ResourceName)))],
        ['Outcome', (e) => (e.ErrorCode ? h('span', { class: 'badge failed', title: e.ErrorMessage || '' }, e.ErrorCode) : h('span', { class: 'badge issued' }, 'OK'))],
      ], rows, { id: 'audit-table' }));
    } catch (e) { results.replaceChildren(errorBox(e)); more.hidden = true; }
  };
  const form = h('form', { class: 'panel', 'aria-label': 'Search the audit log' }, field('Search', text), field('In', attr), search);
  form.addEventListener('submit', (e) => { e.preventDefault(); load(search, true); });
  more.addEventListener('click', () => load(more, false));
  main.append(h('section', { 'aria-label': 'Chain verification' }, chain, verifyBtn), form, results, more);
  await Promise.all([verify(), load(search, true)]);
}
