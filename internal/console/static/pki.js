// PKI: the CA hierarchy, certificates on an expiry timeline with the
// renewal window, and the issue / renew / revoke / export actions.
import { h, s, clear, field, errorBox, table, when, toDate, busy, paginate } from './ui.js';

const POLL_MS = 4000;

async function loadCAs(c) {
  const cas = await paginate((t) => c.json('acm-pca', 'ACMPrivateCA.ListCertificateAuthorities', { NextToken: t }), 'CertificateAuthorities');
  await Promise.all(cas.map(async (ca) => {
    if (ca.Status !== 'ACTIVE' && ca.Status !== 'EXPIRED' && ca.Status !== 'DISABLED') return;
    try {
      const out = await c.json('acm-pca', 'ACMPrivateCA.GetCertificateAuthorityCertificate', { CertificateAuthorityArn: ca.Arn });
      ca.pem = (out.Certificate || '').trim();
      ca.parentPem = firstPem(out.CertificateChain || '');
    } catch { /* a CA without a certificate yet shows as a root of its own */ }
  }));
  return cas;
}

function firstPem(chain) {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(chain);
  return m ? m[0].trim() : '';
}

// caTree nests each CA under the CA whose certificate heads its chain.
function caTree(cas) {
  const byPem = new Map(cas.filter((ca) => ca.pem).map((ca) => [ca.pem, ca]));
  const kids = new Map();
  const roots = [];
  for (const ca of cas) {
    const parent = ca.parentPem && byPem.get(ca.parentPem);
    if (parent && parent !== ca) {
      if (!kids.has(parent.Arn)) kids.set(parent.Arn, []);
      kids.get(parent.Arn).push(ca);
    } else roots.push(ca);
  }
  const node = (ca) => {
    const cfg = ca.CertificateAuthorityConfiguration || {};
    const rev = ca.RevocationConfiguration || {};
    const crl = rev.CrlConfiguration && rev.CrlConfiguration.Enabled;
    const ocsp = rev.OcspConfiguration && rev.OcspConfiguration.Enabled;
    const children = kids.get(ca.Arn) || [];
    return h('li', { class: 'ca', 'data-arn': ca.Arn },
      h('div', { class: 'ca-card' },
        h('strong', {}, (cfg.Subject && cfg.Subject.CommonName) || ca.Arn.split('/').pop()),
        ' ', h('span', { class: 'badge ' + String(ca.Status).toLowerCase() }, ca.Status),
        ' ', h('span', { class: 'badge' }, ca.Type),
        h('dl', {},
          h('dt', {}, 'Key'), h('dd', {}, cfg.KeyAlgorithm || '—', ' / ', cfg.SigningAlgorithm || '—'),
          h('dt', {}, 'Valid'), h('dd', {}, when(ca.NotBefore), ' → ', when(ca.NotAfter)),
          h('dt', {}, 'Revocation'), h('dd', {}, 'CRL ', crl ? 'on' : 'off', ', OCSP ', ocsp ? 'on' : 'off'),
          h('dt', {}, 'ARN'), h('dd', {}, h('code', {}, ca.Arn)))),
      children.length ? h('ul', {}, children.map(node)) : null);
  };
  return h('ul', { class: 'tree', id: 'ca-tree', 'aria-label': 'Certificate authority hierarchy' }, roots.map(node));
}

async function loadCerts(c) {
  const list = await paginate((t) => c.json('acm', 'CertificateManager.ListCertificates', {
    NextToken: t, CertificateStatuses: ['PENDING_VALIDATION', 'ISSUED', 'INACTIVE', 'EXPIRED', 'VALIDATION_TIMED_OUT', 'REVOKED', 'FAILED'],
    // Without keyTypes ACM lists RSA_2048 certificates only.
    Includes: { keyTypes: ['RSA_1024', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'EC_prime256v1', 'EC_secp384r1', 'EC_secp521r1'] },
  }), 'CertificateSummaryList', 200);
  return Promise.all(list.map(async (sum) => {
    try {
      const d = await c.json('acm', 'CertificateManager.DescribeCertificate', { CertificateArn: sum.CertificateArn });
      return { ...sum, ...d.Certificate };
    } catch { return sum; }
  }));
}

// timeline draws each certificate's validity as a bar, its renewal window
// (the last DaysBeforeExpiry days, when expiry events fire) shaded, the
// last renewal as a dot and today as a line.
function timeline(certs, days) {
  const rows = certs.filter((x) => x.NotBefore && x.NotAfter);
  const now = Date.now();
  const W = 900, rowH = 26, left = 190, top = 24;
  const H = top + rows.length * rowH + 10;
  let lo = now, hi = now + 86400e3;
  for (const x of rows) {
    lo = Math.min(lo, toDate(x.NotBefore).getTime());
    hi = Math.max(hi, toDate(x.NotAfter).getTime());
  }
  const span = Math.max(hi - lo, 1);
  const X = (t) => left + ((t - lo) / span) * (W - left - 10);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'timeline', id: 'timeline', role: 'img',
    'aria-label': `Expiry timeline of ${rows.length} certificates; shaded: the ${days}-day renewal window` });
  svg.append(s('text', { x: left, y: 14, class: 'axis' }, when(lo / 1000).slice(0, 10)),
    s('text', { x: W - 10, y: 14, class: 'axis', 'text-anchor': 'end' }, when(hi / 1000).slice(0, 10)));
  rows.forEach((x, i) => {
    const y = top + i * rowH;
    const nb = toDate(x.NotBefore).getTime(), na = toDate(x.NotAfter).getTime();
    const ws = Math.max(nb, na - days * 86400e3);
    const g = s('g', { class: 'cert ' + String(x.Status).toLowerCase(), 'data-arn': x.CertificateArn, 'data-serial': x.Serial || '', 'data-not-after': String(x.NotAfter) },
      s('title', {}, `${x.DomainName}: ${when(x.NotBefore)} → ${when(x.NotAfter)} (${x.Status}); renewal window from ${when(ws / 1000)}`),
      s('text', { x: left - 8, y: y + 16, 'text-anchor': 'end', class: 'label' }, (x.DomainName || '').slice(0, 28)),
      s('rect', { x: X(nb), y: y + 4, width: Math.max(X(na) - X(nb), 2), height: rowH - 10, class: 'bar' }),
      s('rect', { x: X(ws), y: y + 4, width: Math.max(X(na) - X(ws), 1), height: rowH - 10, class: 'window' }));
    const renewed = x.RenewalSummary && x.RenewalSummary.RenewalStatus === 'SUCCESS' && x.RenewalSummary.UpdatedAt;
    if (renewed) {
      g.append(s('circle', { cx: X(toDate(renewed).getTime()), cy: y + rowH / 2 - 1, r: 5, class: 'renewed' },
        s('title', {}, 'Renewed ' + when(renewed))));
    }
    svg.append(g);
  });
  svg.append(s('line', { x1: X(now), x2: X(now), y1: top - 6, y2: H, class: 'now' }),
    s('text', { x: X(now) + 3, y: H - 2, class: 'axis' }, 'now'));
  return h('figure', { class: 'timeline-box' }, svg, h('figcaption', {},
    h('span', { class: 'key bar' }), ' validity ', h('span', { class: 'key window' }), ` renewal window (${days} days before expiry, when ACM sends "Approaching Expiration" events) `,
    h('span', { class: 'key renewed' }), ' last renewal'));
}

export async function render(main, session, stale) {
  const c = session.client;
  main.append(h('h1', {}, 'Private CA and certificates'));
  const err = h('div', { id: 'pki-error', 'aria-live': 'assertive' });
  const caBox = h('section', { 'aria-labelledby': 'ca-h' }, h('h2', { id: 'ca-h' }, 'Certificate authorities'));
  const certBox = h('div', { id: 'certs' });
  const panel = h('div', { id: 'cert-action', 'aria-live': 'polite' });
  const issueBox = h('section', { 'aria-labelledby': 'issue-h' });
  main.append(err, caBox, h('section', { 'aria-labelledby': 'certs-h' }, h('h2', { id: 'certs-h' }, 'Certificates'), certBox, panel), issueBox);

  let days = 45;
  try {
    const acct = await c.json('acm', 'CertificateManager.GetAccountConfiguration', {});
    days = (acct.ExpiryEvents && acct.ExpiryEvents.DaysBeforeExpiry) || 45;
  } catch { /* the default window */ }

  let cas = [];
  try {
    cas = await loadCAs(c);
    caBox.append(cas.length ? caTree(cas) : h('p', {}, 'No CA yet: create one with aws acm-pca create-certificate-authority (see Start).'));
  } catch (e) {
    err.append(errorBox(e));
  }
  if (stale()) return;

  // The action panel sits outside the refreshed list, so a poll never
  // wipes a passphrase being typed.
  const act = {
    async renew(x, button) {
      panel.replaceChildren();
      try {
        await busy(button, 'Renewing', () => c.json('acm', 'CertificateManager.RenewCertificate', { CertificateArn: x.CertificateArn }));
        panel.append(h('p', { class: 'ok' }, 'Renewed ', x.DomainName, '.'));
        await refresh();
      } catch (e) { panel.append(errorBox(e)); }
    },
    revoke(x) {
      const reason = h('select', {}, ['UNSPECIFIED', 'KEY_COMPROMISE', 'CA_COMPROMISE', 'AFFILIATION_CHANGED', 'SUPERSEDED', 'CESSATION_OF_OPERATION', 'PRIVILEGE_WITHDRAWN']
        .map((r) => h('option', { value: r }, r)));
      const out = h('div', { 'aria-live': 'polite' });
      const go = h('button', { type: 'submit', class: 'danger' }, 'Revoke');
      const form = h('form', { class: 'panel', 'aria-label': 'Revoke ' + x.DomainName },
        h('h3', {}, 'Revoke ', x.DomainName), h('p', {}, 'Revocation cannot be undone; the certificate goes on the CA\'s CRL.'),
        field('Reason', reason), go, h('button', { type: 'button', onclick: () => panel.replaceChildren() }, 'Cancel'), out);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        out.replaceChildren();
        try {
          await busy(go, 'Revoking', () => c.json('acm', 'CertificateManager.RevokeCertificate', { CertificateArn: x.CertificateArn, RevocationReason: reason.value }));
          out.append(h('p', { class: 'ok' }, 'Revoked.'));
          await refresh();
        } catch (e2) { out.append(errorBox(e2)); }
      });
      panel.replaceChildren(form);
      reason.focus();
    },
    exportCert(x) {
      const p1 = h('input', { type: 'password', autocomplete: 'new-password', minLength: 4, maxLength: 128, required: true });
      const p2 = h('input', { type: 'password', autocomplete: 'new-password', required: true });
      const out = h('div', { 'aria-live': 'polite' });
      const go = h('button', { type: 'submit' }, 'Export');
      const form = h('form', { class: 'panel', 'aria-label': 'Export ' + x.DomainName },
        h('h3', {}, 'Export ', x.DomainName),
        h('p', {}, 'The private key comes back encrypted with this passphrase (PKCS#8, PBES2, AES-256-CBC), as ACM exports it. The export is recorded in the audit log.'),
        field('Passphrase', p1, '4 to 128 characters, without #, $ or %.'), field('Repeat passphrase', p2), go,
        h('button', { type: 'button', onclick: () => panel.replaceChildren() }, 'Cancel'), out);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        out.replaceChildren();
        const bad = p1.value !== p2.value ? 'The passphrases differ.' : p1.value.length < 4 || p1.value.length > 128 ? 'The passphrase must be 4 to 128 characters.'
          : /[#$%]/.test(p1.value) ? 'The passphrase must not contain #, $ or %.' : '';
        if (bad) {
          p1.setAttribute('aria-invalid', 'true');
          out.append(h('p', { class: 'error', role: 'alert' }, bad));
          return;
        }
        p1.removeAttribute('aria-invalid');
        try {
          const pass = btoa(String.fromCharCode(...new TextEncoder().encode(p1.value)));
          const r = await busy(go, 'Exporting', () => c.json('acm', 'CertificateManager.ExportCertificate', { CertificateArn: x.CertificateArn, Passphrase: pass }));
          p1.value = p2.value = '';
          const area = (label, text, file) => {
            const ta = h('textarea', { readOnly: true, rows: 6, spellcheck: false, value: text || '' });
            const dl = h('a', { download: file, href: URL.createObjectURL(new Blob([text || ''], { type: 'application/x-pem-file' })) }, 'Download ', file);
            return h('div', {}, field(label, ta), dl);
          };
          out.append(h('div', { class: 'exported', id: 'exported' },
            area('Certificate', r.Certificate, 'certificate.pem'), area('Chain', r.CertificateChain, 'chain.pem'),
            area('Encrypted private key', r.PrivateKey, 'private_key.pem'),
            h('p', {}, 'Decrypt: ', h('code', {}, 'openssl pkcs8 -in private_key.pem -passin stdin'))));
        } catch (e2) { out.append(errorBox(e2)); }
      });
      panel.replaceChildren(form);
      p1.focus();
    },
  };

  let shown = '';
  let seq = 0;
  async function refresh() {
    // A poll and an action may overlap: only the latest answer is drawn.
    const mine = ++seq;
    let certs;
    try {
      certs = await loadCerts(c);
      if (mine !== seq) return;
    } catch (e) {
      if (mine !== seq) return;
      certBox.replaceChildren(errorBox(e));
      shown = '';
      return;
    }
    const sig = JSON.stringify(certs.map((x) => [x.CertificateArn, x.Serial, x.Status, x.NotAfter, x.RenewalSummary]));
    if (sig === shown) return;
    shown = sig;
    certs.sort((a, b) => (toDate(a.NotAfter || 0) - toDate(b.NotAfter || 0)));
    const focused = document.activeElement && document.activeElement.id;
    certBox.replaceChildren(timeline(certs, days), table('Certificates', [
      ['Domain', (x) => x.DomainName],
      ['Status', (x) => h('span', { class: 'badge ' + String(x.Status).toLowerCase() }, x.Status)],
      ['Key', (x) => x.KeyAlgorithm || '—'],
      ['Expires', (x) => when(x.NotAfter)],
      ['Serial', (x) => h('code', {}, x.Serial || '—')],
      ['Actions', (x) => {
        const key = x.CertificateArn.split('/').pop();
        const renew = h('button', { type: 'button', id: 'renew-' + key, 'aria-label': 'Renew ' + x.DomainName, onclick: () => act.renew(x, renew) }, 'Renew');
        return h('div', { class: 'actions' }, x.Type === 'PRIVATE' && x.Status === 'ISSUED' ? [renew,
          h('button', { type: 'button', id: 'revoke-' + key, 'aria-label': 'Revoke ' + x.DomainName, onclick: () => act.revoke(x) }, 'Revoke'),
          h('button', { type: 'button', id: 'export-' + key, 'aria-label': 'Export ' + x.DomainName, onclick: () => act.exportCert(x) }, 'Export')] : '—');
      }],
    ], certs, { id: 'cert-table' }));
    if (focused) {
      const again = document.getElementById(focused);
      if (again) again.focus();
    }
  }

  // Issue: a private certificate from an active CA.
  const active = cas.filter((ca) => ca.Status === 'ACTIVE');
  if (active.length) {
    const caSel = h('select', { id: 'issue-ca' }, active.map((ca) => h('option', { value: ca.Arn },
      ((ca.CertificateAuthorityConfiguration || {}).Subject || {}).CommonName || ca.Arn)));
    const domain = h('input', { id: 'issue-domain', required: true, placeholder: 'api.internal.example', spellcheck: false, autocapitalize: 'off' });
    const alg = h('select', { id: 'issue-alg' }, ['RSA_2048', 'EC_prime256v1', 'EC_secp384r1', 'RSA_3072', 'RSA_4096'].map((a) => h('option', { value: a }, a)));
    // The leaf's key family must match the CA's: default to it.
    const family = () => {
      const ca = active.find((x) => x.Arn === caSel.value);
      const k = ((ca && ca.CertificateAuthorityConfiguration) || {}).KeyAlgorithm || '';
      alg.value = k.startsWith('EC') ? 'EC_prime256v1' : 'RSA_2048';
    };
    caSel.addEventListener('change', family);
    family();
    const out = h('div', { 'aria-live': 'polite' });
    const go = h('button', { type: 'submit', id: 'issue' }, 'Issue certificate');
    const form = h('form', { class: 'panel', 'aria-labelledby': 'issue-h' }, field('Issuing CA', caSel), field('Domain name', domain), field('Key algorithm', alg), go, out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      out.replaceChildren();
      try {
        const r = await busy(go, 'Issuing', () => c.json('acm', 'CertificateManager.RequestCertificate', {
          DomainName: domain.value.trim(), CertificateAuthorityArn: caSel.value, KeyAlgorithm: alg.value }));
        out.append(h('p', { class: 'ok' }, 'Requested ', h('code', {}, r.CertificateArn), '.'));
        await refresh();
      } catch (e2) { out.append(errorBox(e2)); }
    });
    issueBox.append(h('h2', { id: 'issue-h' }, 'Issue a private certificate'), form);
  }

  await refresh();
  // Renewals made elsewhere (the renewer, the CLI) appear without reload.
  let timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
  return () => { clearInterval(timer); timer = null; };
}
