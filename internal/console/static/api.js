// Signed calls to Bulwark's public APIs, from the browser, with the
// user's access key. Nothing here talks to the server except through
// these calls; the server sees a SigV4 signature, never the secret.
import { sign, canonicalQuery, uriEncode } from './sigv4.js';

// ApiError is an API's refusal, as the API worded it. missingPermission is
// the action an AccessDenied names ("is not authorized to perform: X").
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
    const m = /not authorized to perform: (\S+)/.exec(message || '');
    this.missingPermission = m ? m[1] : '';
  }
}

const entities = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXML(s) {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e) =>
    entities[e] || String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));
}

// Client signs and sends calls for one set of credentials.
export class Client {
  constructor(creds, region) {
    this.creds = creds;
    this.region = region;
  }

  async send(service, method, path, query, headers, body) {
    const h = { host: location.host, ...headers };
    const signed = await sign({ method, path, query, headers: h, body }, this.creds, this.region, service, new Date());
    const qs = canonicalQuery(query || []);
    const resp = await fetch(path + (qs ? '?' + qs : ''), {
      method,
      headers: signed,
      body: method === 'GET' || method === 'HEAD' ? undefined : body,
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
    return resp;
  }

  // json calls an AWS JSON 1.1 operation ("TrentService.ListKeys").
  async json(service, target, input) {
    const body = JSON.stringify(input || {});
    const resp = await this.send(service, 'POST', '/', [], {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': target,
    }, body);
    const text = await resp.text();
    let out = {};
    try { out = text ? JSON.parse(text) : {}; } catch { out = {}; }
    if (!resp.ok) {
      const code = String(out.__type || resp.headers.get('x-amzn-errortype') || 'HTTP ' + resp.status).split('#').pop().split(':')[0];
      throw new ApiError(code, out.message || out.Message || text, resp.status);
    }
    return out;
  }

  // query calls a Query-protocol operation (IAM, STS) and returns a
  // function that reads an element's text from the XML answer. The
  // console's Trusted Types policy forbids DOMParser (it wants TrustedHTML),
  // and the few answers read here are flat.
  async query(service, action, params) {
    const form = [['Action', action], ['Version', service === 'sts' ? '2011-06-15' : '2010-05-08']];
    for (const [k, v] of Object.entries(params || {})) form.push([k, String(v)]);
    const body = canonicalQuery(form);
    const resp = await this.send(service, 'POST', '/', [], { 'content-type': 'application/x-www-form-urlencoded' }, body);
    const xml = await resp.text();
    const txt = (n) => {
      const m = new RegExp('<' + n + '>([^<]*)</' + n + '>').exec(xml);
      return m ? unescapeXML(m[1]) : '';
    };
    if (!resp.ok) throw new ApiError(txt('Code') || 'HTTP ' + resp.status, txt('Message'), resp.status);
    return txt;
  }

  // rest calls a REST-JSON operation (App Mesh); segments are escaped here.
  async rest(service, method, segments, query, input) {
    const path = '/' + segments.map(uriEncode).join('/');
    const body = input ? JSON.stringify(input) : '';
    const headers = input ? { 'content-type': 'application/json' } : {};
    const resp = await this.send(service, method, path, query || [], headers, body);
    const text = await resp.text();
    let out = {};
    try { out = text ? JSON.parse(text) : {}; } catch { out = {}; }
    if (!resp.ok) {
      const code = String(resp.headers.get('x-amzn-errortype') || out.__type || 'HTTP ' + resp.status).split('#').pop().split(':')[0];
      throw new ApiError(code, out.message || out.Message || text, resp.status);
    }
    return out;
  }
}
