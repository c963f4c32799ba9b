// AWS Signature Version 4 for the browser, with WebCrypto only. It mirrors
// aws-sdk-go-v2's signer (the Go tests compare the two on the same
// requests), for the header form: the services Bulwark hosts are signed
// with the path escaped twice (all but S3), the query sorted by encoded
// key then value, header values trimmed with runs of spaces collapsed.

const enc = new TextEncoder();

function toHex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data) {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

async function hmac(key, msg) {
  const raw = typeof key === 'string' ? enc.encode(key) : key;
  const k = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, enc.encode(msg)));
}

// amzDate formats d as X-Amz-Date wants it: 20261205T170550Z.
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
}

// uriEncode escapes everything but RFC 3986's unreserved characters, as
// Go's url.QueryEscape does once "+" is written "%20".
export function uriEncode(s) {
  return Array.from(enc.encode(s), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }).join('');
}

// escapePath escapes an already escaped path once more, keeping "/".
function escapePath(p) {
  return Array.from(enc.encode(p), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~/]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }).join('');
}

// canonicalQuery renders [[key, value], …] sorted, encoded as signed; the
// same string is the request's query, so what is sent is what was signed.
export function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => k + '=' + v)
    .join('&');
}

function headerValue(v) {
  return String(v).trim().replace(/ +/g, ' ');
}

// sign returns the headers to send: the given ones plus X-Amz-Date and
// Authorization. req: {method, path (escaped once), query ([[k, v]]),
// headers ({name: value}, must include host), body (string)}; creds:
// {accessKeyId, secretAccessKey}; date: a Date.
export async function sign(req, creds, region, service, date) {
  const t = amzDate(date);
  const day = t.slice(0, 8);
  const headers = { ...req.headers, 'x-amz-date': t };
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = headerValue(v);
  const signed = names.join(';');
  const canonical = [
    req.method,
    escapePath(req.path || '/'),
    canonicalQuery(req.query || []),
    names.map((n) => n + ':' + lower[n] + '\n').join(''),
    signed,
    await sha256Hex(req.body || ''),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', t, scope, await sha256Hex(canonical)].join('\n');
  let k = await hmac('AWS4' + creds.secretAccessKey, day);
  k = await hmac(k, region);
  k = await hmac(k, service);
  k = await hmac(k, 'aws4_request');
  const sig = toHex(await hmac(k, sts));
  const out = { ...req.headers, 'X-Amz-Date': t };
  delete out.host;
  out.Authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
  return out;
}
