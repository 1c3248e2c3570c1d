// Requests: the request log, newest first, and one request with its
// attempts.
import { api, h, card, pageHead, table, field, badge, fmt, guarded, APIError } from './lib.js';
import { barChart } from './chart.js';

function statusBadge(r) {
  return badge(r.error_type ? `${r.status} ${r.error_type}` : String(r.status), r.status >= 500 ? 'bad' : r.status >= 400 ? 'warn' : 'ok');
}

export async function render(main) {
  const alias = h('input', { id: 'req-alias', placeholder: 'any' });
  const tenant = h('input', { id: 'req-tenant', placeholder: 'any' });
  const status = h('select', { id: 'req-status' }, ['', 'ok', 'error', '429', '500', '502', '503', 'timeout', 'shed'].map(s => h('option', { value: s, text: s || 'any' })));
  const list = h('div', {});
  const detail = h('div', { id: 'request-detail' });
  const filters = h('form', { class: 'form-row' }, field('Alias', alias), field('Tenant', tenant), field('Status', status), h('button', { class: 'primary', type: 'submit', text: 'Filter' }));
  filters.addEventListener('submit', e => { e.preventDefault(); guarded(load); });
  main.replaceChildren(pageHead('Requests', 'The request log: every client request with its attempts.'), card('', filters), list, detail);

  async function show(r) {
    const full = await api('GET', `/admin/v1/requests/${encodeURIComponent(r.request_id)}`);
    const atts = full.attempts || [];
    detail.replaceChildren(card(`Request ${full.request_id}`,
      h('dl', { class: 'props' }, [
        ['Time', fmt.time(full.time)], ['Tenant', full.tenant_id], ['Key', full.key_id], ['Alias', full.alias],
        ['Target', full.target || '—'], ['Operation', full.operation + (full.stream ? ' (stream)' : '')], ['Status', statusBadge(full)],
        ['Latency', fmt.ns(full.latency_ns)], ['Overhead', fmt.ns(full.overhead_ns)], ['First token', full.time_to_first_token_ns ? fmt.ns(full.time_to_first_token_ns) : '—'],
        ['Tokens', `${fmt.num(full.prompt_tokens)} in · ${fmt.num(full.completion_tokens)} out`], ['Finish', full.finish_reason || '—'],
      ].flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)])),
      h('h3', { text: `Attempts (${atts.length})` }),
      table([
        { label: '#', value: a => String(atts.indexOf(a) + 1) },
        { label: 'Target', value: a => a.target },
        { label: 'Result', value: a => (a.error_kind ? badge(a.error_kind + (a.status ? ` ${a.status}` : ''), 'bad') : badge('ok', 'ok')) },
        { label: 'Duration', num: true, value: a => fmt.ns(a.duration_ns) },
        { label: 'Notes', value: a => [a.hedge ? 'hedge' : '', a.break ? `break: ${a.break}` : '', a.continues ? 'continued' : ''].filter(Boolean).join(', ') || '—' },
      ], atts, { empty: 'No upstream was called.' }),
      atts.length ? barChart(atts.map((a, i) => ({ name: `${i + 1}. ${a.target}`, value: a.duration_ns / 1e6 })), { format: v => fmt.ms(v), labelWidth: 200 }) : null,
      full.content ? h('div', {}, h('h3', { text: 'Content (masked)' }),
        ...(full.content.messages || []).map(m => h('p', {}, h('strong', { text: m.role + ': ' }), m.content)),
        h('p', {}, h('strong', { text: 'completion: ' }), full.content.completion || '')) : null));
    detail.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  async function load() {
    const q = new URLSearchParams({ limit: '100' });
    if (alias.value.trim()) q.set('alias', alias.value.trim());
    if (tenant.value.trim()) q.set('tenant', tenant.value.trim());
    if (status.value) q.set('status', status.value);
    let page;
    try {
      page = await api('GET', `/admin/v1/requests?${q}`);
    } catch (e) {
      if (e instanceof APIError && e.code === 'request_log_disabled') {
        list.replaceChildren(h('div', { class: 'notice', text: 'The request log is off. Set telemetry.request_log.enabled: true in the config to record requests.' }));
        return;
      }
      throw e;
    }
    list.replaceChildren(card(`Newest ${page.data.length}${page.has_more ? '+' : ''} requests`, table([
      { label: 'Time', value: r => fmt.time(r.time) },
      { label: 'Tenant', value: r => r.tenant_id },
      { label: 'Alias', value: r => r.alias },
      { label: 'Target', value: r => r.target || '—' },
      { label: 'Status', value: statusBadge },
      { label: 'Attempts', num: true, value: r => String((r.attempts || []).length) },
      { label: 'Latency', num: true, value: r => fmt.ns(r.latency_ns) },
      { label: 'Tokens', num: true, value: r => `${fmt.num(r.prompt_tokens)} / ${fmt.num(r.completion_tokens)}` },
    ], page.data, { id: 'requests-table', empty: 'No request matches.', onRow: (r, tr) => {
      list.querySelectorAll('tr.selected').forEach(x => x.classList.remove('selected'));
      tr.classList.add('selected');
      guarded(() => show(r));
    } })));
  }
  await load();
}
