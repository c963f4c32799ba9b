// DOM helpers. Every value from an API reaches the page as text
// (textContent, attributes), never as markup: names, tags and policies
// are the user's data, and the CSP enforces Trusted Types besides.

const SVGNS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k in el && !(el instanceof SVGElement) && k !== 'list') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h builds an HTML element: h('button', {onclick, class: 'x'}, 'Text').
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let uid = 0;
// field is a labelled control; the label names it for assistive tech.
export function field(label, control, hint) {
  const id = control.id || 'f' + ++uid;
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = id + '-hint';
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

// errorBox shows an API refusal as the API worded it, and the missing
// permission when it was an access denial.
export function errorBox(err) {
  const box = h('div', { class: 'error', role: 'alert' },
    h('strong', { class: 'code' }, err.code || 'Error'), ': ', h('span', { class: 'message' }, err.message || String(err)));
  if (err.missingPermission) {
    box.append(h('p', { class: 'missing' }, 'Missing permission: ', h('code', {}, err.missingPermission),
      '. Ask an administrator to allow it in your IAM policy (or the key policy, for KMS keys).'));
  }
  return box;
}

// table renders rows under a caption; cols: [[heading, row => node|text]].
export function table(caption, cols, rows, attrs) {
  // The scroller is a named region: browsers let the keyboard focus a
  // scroller that overflows (phones), and it should say what it holds.
  return h('div', { class: 'scroll', role: 'region', 'aria-label': caption }, h('table', attrs || {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, cols.map(([name]) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, cols.map(([, f]) => h('td', {}, f(r)))))
      : h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'None yet.')))));
}

// replaceKeepingFocus swaps box's content for nodes, as a live refresh
// does, without taking the keyboard user's place away: if focus was on a
// control inside box, the control at the same position in the new content
// gets it (else focus would fall back to the page and Tab start over).
export function replaceKeepingFocus(box, ...nodes) {
  const focusables = () => Array.from(box.querySelectorAll('a[href], button, input, select, textarea, [tabindex], .scroll'));
  const active = document.activeElement;
  const at = active && box.contains(active) ? focusables().indexOf(active) : -1;
  box.replaceChildren(...nodes);
  if (at >= 0) {
    const again = focusables()[at];
    if (again) again.focus({ preventScroll: true });
  }
}

// when formats an API timestamp (epoch seconds) as a UTC date and time.
export function when(t) {
  if (t === undefined || t === null || t === '') return '—';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function toDate(t) {
  return typeof t === 'number' ? new Date(t * 1000) : new Date(t);
}

export function section(title, ...children) {
  return h('section', {}, h('h2', {}, title), children);
}

// busy runs fn with the button disabled and a status message announced.
export async function busy(button, label, fn) {
  const status = document.getElementById('status');
  button.disabled = true;
  status.textContent = label + '…';
  try {
    return await fn();
  } finally {
    button.disabled = false;
    status.textContent = '';
  }
}

// paginate calls op with NextToken until the list ends (at most max items).
export async function paginate(call, key, max = 500) {
  let token;
  const out = [];
  do {
    const page = await call(token);
    out.push(...(page[key] || []));
    token = page.NextToken || page.nextToken;
  } while (token && out.length < max);
  return out;
}
