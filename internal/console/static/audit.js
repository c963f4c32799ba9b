// Audit: events newest first, searchable and paginated, with the chain's
// verification status. Reads through BulwarkAudit (docs/console.md), which
// is authorized and audited like every API. Below, the EventBridge rules
// and what happened to their deliveries (BulwarkEvents).
import { h, field, errorBox, table, when, busy, paginate } from './ui.js';

// deliveries reads a rule's delivery state: the last attempt per target
// and its queued deliveries (at most 5 pages of them).
async function deliveries(c, rule) {
  const out = { targets: [], pending: [], more: false };
  let token;
  for (let page = 0; page < 5; page++) {
    const r = await c.json('bulwark', 'BulwarkEvents.ListRuleDeliveries', { Rule: rule, MaxResults: 100, NextToken: token });
    if (page === 0) out.targets = r.Targets;
    out.pending.push(...r.Pending);
    token = r.NextToken;
    if (!token) return out;
  }
  out.more = true;
  return out;
}

// rulesSection lists the event rules with their targets, each target's
// last delivery attempt and its queued retries.
async function rulesSection(c, box) {
  try {
    const rules = await paginate((t) => c.json('events', 'AWSEvents.ListRules', { NextToken: t }), 'Rules', 100);
    const rows = [];
    await Promise.all(rules.map(async (r) => {
      const targets = (await c.json('events', 'AWSEvents.ListTargetsByRule', { Rule: r.Name })).Targets || [];
      let d = null, err = null;
      try { d = await deliveries(c, r.Name); } catch (e) { err = e; }
      if (!targets.length) rows.push({ r, t: null, d, err });
      for (const t of targets) rows.push({ r, t, d, err });
    }));
    rows.sort((a, b) => (a.r.Name + (a.t ? a.t.Id : '') < b.r.Name + (b.t ? b.t.Id : '') ? -1 : 1));
    const last = ({ t, d, err }) => {
      if (err) return errorBox(err);
      const st = t && d && d.targets.find((x) => x.Id === t.Id);
      if (!st) return 'no attempt yet';
      return h('div', {}, h('span', { class: 'badge ' + (st.Outcome === 'DELIVERED' ? 'issued' : st.Outcome === 'DROPPED' ? 'failed' : 'pending') }, st.Outcome),
        ` ${when(st.Time)}, attempt ${st.Attempts}`, st.LastError ? h('div', { class: 'nack-msg' }, st.LastError) : '');
    };
    const queued = ({ t, d }) => {
      const p = t && d ? d.pending.filter((x) => x.TargetId === t.Id) : [];
      if (!p.length) return '—';
      const next = p.reduce((a, b) => (a.NextAttemptAt < b.NextAttemptAt ? a : b));
      return `${p.length}${d.more ? '+' : ''} queued; next attempt ${when(next.NextAttemptAt)}`;
    };
    box.replaceChildren(table(`Event rules and their deliveries (${rules.length} rules)`, [
      ['Rule', ({ r }) => h('div', {}, h('strong', {}, r.Name), ' ', h('span', { class: 'badge ' + r.State.toLowerCase() }, r.State))],
      ['Pattern', ({ r }) => h('code', {}, r.EventPattern || '')],
      ['Target', ({ t }) => (t ? h('div', {}, t.Id, ' ', h('code', {}, t.Arn)) : 'no target')],
      ['Last delivery', last],
      ['Queued', queued],
    ], rows, { id: 'rules-table' }));
  } catch (e) { box.replaceChildren(errorBox(e)); }
}

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
  const rules = h('div', { id: 'rules' });
  const reloadRules = h('button', { type: 'button', id: 'rules-refresh' }, 'Refresh rules and deliveries');
  reloadRules.addEventListener('click', () => busy(reloadRules, 'Reading event rules', () => rulesSection(c, rules)));
  main.append(h('section', { 'aria-label': 'Chain verification' }, chain, verifyBtn), form, results, more,
    h('section', { 'aria-labelledby': 'rules-h' }, h('h2', { id: 'rules-h' }, 'Event rules and deliveries'), rules, reloadRules));
  await Promise.all([verify(), load(search, true), rulesSection(c, rules)]);
}
