// The first-run page: how to point the CLI and SDKs at this server, the
// commands to try, and sign-in.
import { Client } from './api.js';
import { h, field, errorBox, busy } from './ui.js';

function pre(lines) {
  return h('pre', { tabindex: 0 }, h('code', {}, lines.join('\n')));
}

export async function render(main, session) {
  const origin = location.origin;
  const region = session.config.region;
  main.append(h('h1', {}, 'Bulwark'));
  main.append(h('p', {}, 'Private CA, certificates, KMS, Secrets Manager, IAM, audit and App Mesh, on the AWS wire APIs. ',
    'This console calls those same APIs from your browser, signed with your access key, so what you may do here and what the audit log records are exactly what the CLI would get.'));

  const out = h('div', { id: 'sign-in-result', 'aria-live': 'polite' });
  if (session.client) {
    out.append(h('p', { class: 'ok' }, 'Signed in as ', h('code', { id: 'identity' }, session.identity), '.'));
  } else {
    const id = h('input', { name: 'accessKeyId', autocomplete: 'username', required: true, spellcheck: false, autocapitalize: 'off' });
    const secret = h('input', { name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true });
    const remember = h('input', { type: 'checkbox', name: 'remember' });
    const button = h('button', { type: 'submit' }, 'Sign in');
    const form = h('form', { id: 'sign-in', 'aria-labelledby': 'sign-in-h' },
      h('h2', { id: 'sign-in-h' }, 'Sign in'),
      field('Access key ID', id, 'From `bulwark server --dev` output, or `aws iam create-access-key`.'),
      field('Secret access key', secret, 'Kept in this page\'s memory only; it signs requests and is never sent.'),
      h('div', { class: 'field check' }, remember, h('label', { for: (remember.id = 'remember') }, 'Keep me signed in in this tab (sessionStorage, cleared when the tab closes)')),
      button, out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      out.replaceChildren();
      const creds = { accessKeyId: id.value.trim(), secretAccessKey: secret.value };
      const client = new Client(creds, region);
      try {
        await busy(button, 'Signing in', async () => {
          const read = await client.query('sts', 'GetCallerIdentity');
          const arn = read('Arn') || creds.accessKeyId;
          session.signIn(creds, arn, remember.checked);
          location.hash = '#/pki';
        });
      } catch (err) {
        out.append(errorBox(err));
      }
    });
    main.append(form);
  }

  main.append(h('section', { 'aria-labelledby': 'first-run-h' },
    h('h2', { id: 'first-run-h' }, 'Use this server from a shell'),
    h('p', {}, 'Point the AWS CLI, any AWS SDK and the bulwark commands at this endpoint:'),
    pre([
      `export AWS_ENDPOINT_URL=${origin}`,
      `export AWS_REGION=${region}`,
      `export AWS_ACCESS_KEY_ID=${session.client ? session.client.creds.accessKeyId : '<access key id>'}`,
      'export AWS_SECRET_ACCESS_KEY=<secret access key>   # printed once by bulwark server --dev',
    ]),
    h('p', {}, 'Then try:'),
    pre([
      'aws sts get-caller-identity',
      'aws acm-pca create-certificate-authority --certificate-authority-type ROOT \\',
      '  --certificate-authority-configuration \'{"KeyAlgorithm":"EC_prime256v1","SigningAlgorithm":"SHA256WITHECDSA","Subject":{"CommonName":"Demo Root"}}\'',
      'aws acm-pca list-certificate-authorities',
      'aws kms create-key --description demo',
      'aws secretsmanager create-secret --name demo --secret-string hello',
      'bulwark demo            # the whole mesh and edge-encryption scenario, checked step by step',
      'bulwark audit verify    # check the audit log\'s hash chain and signatures',
    ]),
    session.accountId ? null : h('p', {}, 'Account: ', h('code', {}, session.config.accountId || '—'), ' · Region: ', h('code', {}, region))));
}
