// Helpers every page uses: the admin API client, element building (values
// are always set as text, never parsed as HTML) and formatting.

const KEY = 'bulwark.adminKey';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// api calls the admin API with the session's key. It resolves to the
// decoded JSON answer and rejects with an APIError carrying the answer's
// OpenAI-format error.
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.key || ''}` };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    if (res.status === 401) onUnauthorized();
    throw new APIError(res.status, err.code || '', err.message || `${res.status} ${res.statusText}`);
  }
  return data;
}

// h builds an element: attrs may hold class, text, on<event> handlers,
// dataset (an object) and other attributes; children are nodes, strings
// (added as text), arrays of them, or null (skipped).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', { text: title }) : null, ...children);
}

export function pageHead(title, subtitle, ...right) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', { text: title }), subtitle ? h('p', { class: 'muted', text: subtitle }) : null),
    h('div', { class: 'actions' }, ...right));
}

// table renders rows (objects) in columns: {label, value: row => string|Node, num}.
export function table(columns, rows, opts = {}) {
  if (!rows.length) return h('div', { class: 'empty', text: opts.empty || 'Nothing yet.' });
  const head = h('tr', {}, columns.map(c => h('th', { class: c.num ? 'num' : null, text: c.label })));
  const body = rows.map(r => {
    const tr = h('tr', { class: opts.onRow ? 'clickable' : null },
      columns.map(c => {
        const v = c.value(r);
        return h('td', { class: c.num ? 'num' : null }, v instanceof Node ? v : String(v ?? ''));
      }));
    if (opts.onRow) tr.addEventListener('click', () => opts.onRow(r, tr));
    return tr;
  });
  return h('div', { class: 'table-wrap' }, h('table', { id: opts.id }, h('thead', {}, head), h('tbody', {}, body)));
}

export function field(label, input) {
  return h('div', { class: 'field' }, h('label', { text: label, for: input.id || null }), input);
}

export function badge(text, kind) { return h('span', { class: `badge ${kind || ''}`, text }); }

export function kpi(label, value, id) {
  return h('div', { class: 'kpi', id }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: value }));
}

export function toast(message, bad = false) {
  const t = h('div', { class: `toast${bad ? ' bad' : ''}`, role: 'status', text: message });
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), bad ? 7000 : 3500);
}

// guarded runs an action, reporting a failure as a toast instead of an
// unhandled rejection.
export async function guarded(f) {
  try { return await f(); } catch (e) { toast(e.message || String(e), true); return undefined; }
}

// Formatting.
const nf = new Intl.NumberFormat('en-US');
export const fmt = {
  num: n => nf.format(Math.round(n || 0)),
  compact: n => new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n || 0),
  usd: n => (n >= 100 ? '$' + nf.format(Math.round(n)) : '$' + (n || 0).toFixed(n && n < 0.01 ? 6 : 4).replace(/0+$/, '').replace(/\.$/, '.00')),
  ms: n => (n >= 1000 ? (n / 1000).toFixed(2) + ' s' : Math.round(n || 0) + ' ms'),
  ns: n => fmt.ms((n || 0) / 1e6),
  pct: n => (100 * (n || 0)).toFixed(1) + '%',
  time: t => (t ? new Date(t).toLocaleString() : ''),
  // dur formats a Go duration string ("571.215213ms", "1m2.5s").
  dur: s => {
    const units = { h: 36e5, m: 6e4, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };
    let ms = 0;
    for (const [, n, u] of String(s || '').matchAll(/([\d.]+)(h|ms|m|s|us|µs|ns)/g)) ms += Number(n) * units[u];
    return fmt.ms(ms);
  },
  clock: s => new Date(s * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
};

export function limitsText(l) {
  if (!l) return '—';
  const parts = [];
  if (l.requests_per_minute) parts.push(`${l.requests_per_minute} req/min`);
  if (l.tokens_per_minute) parts.push(`${fmt.num(l.tokens_per_minute)} tok/min`);
  if (l.concurrent) parts.push(`${l.concurrent} concurrent`);
  return parts.length ? parts.join(' · ') : 'none';
}
