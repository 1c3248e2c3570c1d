// Usage and spend from the usage ledger (every replica's), by day, tenant,
// key, alias or tag.
import { api, h, card, pageHead, table, field, fmt, guarded } from './lib.js';
import { barChart, columnChart } from './chart.js';

const day = d => d.toISOString().slice(0, 10);

export async function render(main) {
  const group = h('select', { id: 'usage-group' }, ['day', 'tenant', 'key', 'alias'].map(g => h('option', { value: g, text: g })));
  const tag = h('input', { id: 'usage-tag', placeholder: 'team' });
  const from = h('input', { id: 'usage-from', type: 'date', value: day(new Date(Date.now() - 29 * 864e5)) });
  const to = h('input', { id: 'usage-to', type: 'date', value: day(new Date(Date.now() + 864e5)) });
  const metric = h('select', { id: 'usage-metric' }, [['cost_usd', 'spend (USD)'], ['requests', 'requests'], ['tokens', 'tokens']].map(([v, t]) => h('option', { value: v, text: t })));
  const out = h('div', {});
  const form = h('form', { class: 'form-row' }, field('Group by', group), field('or by tag', tag), field('From', from), field('To (exclusive)', to), field('Chart', metric),
    h('button', { class: 'primary', type: 'submit', text: 'Show' }));
  form.addEventListener('submit', e => { e.preventDefault(); guarded(load); });
  metric.addEventListener('change', () => guarded(load));
  main.replaceChildren(pageHead('Usage', 'Requests, tokens and spend from the usage ledger, across every replica.'), card('', form), out);

  async function load() {
    const q = new URLSearchParams({ group_by: tag.value.trim() ? `tag:${tag.value.trim()}` : group.value });
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    const rows = (await api('GET', `/admin/v1/usage?${q}`)).data;
    const value = r => (metric.value === 'tokens' ? r.prompt_tokens + r.completion_tokens : r[metric.value]);
    const format = metric.value === 'cost_usd' ? fmt.usd : fmt.num;
    // Every day of the period, those without usage too (at most 92).
    const byDay = Object.fromEntries(rows.map(r => [r.group, r]));
    const days = [];
    if (from.value && to.value) {
      for (let d = new Date(from.value + 'T00:00:00Z'); day(d) < to.value && days.length < 92; d = new Date(d.getTime() + 864e5)) days.push(day(d));
    } else days.push(...rows.map(r => r.group));
    const total = rows.reduce((a, r) => ({ requests: a.requests + r.requests, cost: a.cost + r.cost_usd, tokens: a.tokens + r.prompt_tokens + r.completion_tokens }), { requests: 0, cost: 0, tokens: 0 });
    out.replaceChildren(
      card(`${metric.options[metric.selectedIndex].text} by ${q.get('group_by')}`,
        h('p', { class: 'muted', text: `${fmt.num(total.requests)} requests · ${fmt.compact(total.tokens)} tokens · ${fmt.usd(total.cost)} in all` }),
        h('div', { id: 'chart-usage' }, q.get('group_by') === 'day'
          ? columnChart(days.map(d => d.slice(5)), [{ name: metric.value, values: days.map(d => (byDay[d] ? value(byDay[d]) : 0)) }], { format, empty: 'No usage in this period.' })
          : barChart(rows.map(r => ({ name: r.group || '(none)', value: value(r) })), { format, labelWidth: 170, empty: 'No usage in this period.' }))),
      card('Rows', table([
        { label: q.get('group_by'), value: r => r.group || '(none)' },
        { label: 'Requests', num: true, value: r => fmt.num(r.requests) },
        { label: 'Errors', num: true, value: r => fmt.num(r.errors) },
        { label: 'Prompt tokens', num: true, value: r => fmt.num(r.prompt_tokens) },
        { label: 'Completion tokens', num: true, value: r => fmt.num(r.completion_tokens) },
        { label: 'Cached tokens', num: true, value: r => fmt.num(r.cached_tokens) },
        { label: 'Spend', num: true, value: r => fmt.usd(r.cost_usd) },
      ], rows, { empty: 'No usage in this period.' })));
  }
  await load();
}
