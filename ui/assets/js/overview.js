// Overview: this replica's live traffic per alias and target.
import { api, h, card, pageHead, table, kpi, badge, fmt } from './lib.js';
import { lineChart } from './chart.js';

let windowChoice = '15m';

function name(s) { return s.target ? `${s.alias} → ${s.target}` : `${s.alias || '(none)'} (no upstream)`; }

function sumBy(series, field) {
  const n = series.length ? series[0][field].length : 0;
  const out = new Array(n).fill(0);
  series.forEach(s => s[field].forEach((v, i) => { out[i] += v; }));
  return out;
}

export async function render(main, ctx) {
  const body = h('div', {});
  const seg = h('div', { class: 'segmented' }, ['5m', '15m', '1h'].map(w =>
    h('button', { class: w === windowChoice ? 'on' : null, text: w, dataset: { window: w }, onclick: () => { windowChoice = w; seg.querySelectorAll('button').forEach(b => b.classList.toggle('on', b.dataset.window === w)); load(); } })));
  main.replaceChildren(pageHead('Overview', 'Live traffic of this replica, per alias and target. Refreshes every 5 seconds.', seg), body);

  async function load() {
    const t = await api('GET', `/admin/v1/traffic?window=${windowChoice}`);
    const series = t.series;
    const tot = series.reduce((a, s) => {
      a.requests += s.total.requests; a.errors += s.total.errors; a.shed += s.total.shed;
      a.tokens += s.total.input_tokens + s.total.output_tokens; a.cost += s.total.cost_usd;
      a.p99 = Math.max(a.p99, s.total.p99_ms);
      return a;
    }, { requests: 0, errors: 0, shed: 0, tokens: 0, cost: 0, p99: 0 });
    // A latency has no value at a point without requests: the line breaks.
    const gaps = field => field === 'p50_ms' || field === 'p99_ms';
    const chart = (title, id, field, format, pick, empty) => card(title, h('div', { id }, lineChart(t.times,
      (pick || series).map(s => ({ name: name(s), values: gaps(field) ? s[field].map((v, i) => (s.requests[i] ? v : null)) : s[field] })), { format, title, empty })));
    const errSeries = series.filter(s => s.total.errors > 0);
    const latency = series.filter(s => s.total.requests > 0);
    body.replaceChildren(
      h('div', { class: 'kpis' },
        kpi('Requests', fmt.num(tot.requests), 'kpi-requests'),
        kpi('Error rate', tot.requests ? fmt.pct(tot.errors / tot.requests) : '—'),
        kpi('Shed', fmt.num(tot.shed)),
        kpi('Worst p99', tot.p99 ? fmt.ms(tot.p99) : '—'),
        kpi('Tokens', fmt.compact(tot.tokens)),
        kpi('Cost', fmt.usd(tot.cost))),
      h('div', { class: 'grid' },
        chart(`Requests per ${t.step_seconds} s`, 'chart-requests', 'requests', fmt.compact),
        chart('Errors', 'chart-errors', 'errors', fmt.compact, errSeries, 'No errors in this window.'),
        chart('Latency p99', 'chart-p99', 'p99_ms', fmt.ms, latency),
        chart('Latency p50', 'chart-p50', 'p50_ms', fmt.ms, latency),
        card('Tokens', h('div', { id: 'chart-tokens' }, lineChart(t.times, [
          { name: 'input', values: sumBy(series, 'input_tokens') },
          { name: 'output', values: sumBy(series, 'output_tokens') }], { format: fmt.compact }))),
        chart('Cost (USD)', 'chart-cost', 'cost_usd', v => fmt.usd(v))),
      card('Per alias and target', table([
        { label: 'Alias', value: s => s.alias || '(none)' },
        { label: 'Target', value: s => s.target || '—' },
        { label: 'Requests', num: true, value: s => fmt.num(s.total.requests) },
        { label: 'Errors', num: true, value: s => fmt.num(s.total.errors) },
        { label: 'Error types', value: s => h('span', {}, Object.entries(s.total.error_types || {}).map(([k, v]) => badge(`${k} ${v}`, 'bad'))) },
        { label: 'p50', num: true, value: s => fmt.ms(s.total.p50_ms) },
        { label: 'p99', num: true, value: s => fmt.ms(s.total.p99_ms) },
        { label: 'Tokens in / out', num: true, value: s => `${fmt.num(s.total.input_tokens)} / ${fmt.num(s.total.output_tokens)}` },
        { label: 'Cost', num: true, value: s => fmt.usd(s.total.cost_usd) },
      ], series, { empty: 'No requests in this window yet.', id: 'traffic-table' })),
      h('div', { class: 'grid' },
        card('Requests by tenant', lineChart(t.times, t.tenants.map(s => ({ name: s.tenant || '(none)', values: s.requests })), { format: fmt.compact })),
        card('Sheds by tenant', lineChart(t.times, t.tenants.filter(s => s.total.shed > 0).map(s => ({ name: s.tenant, values: s.shed })), { format: fmt.compact, empty: 'Nothing was shed in this window.' }))),
    );
  }
  await load();
  ctx.every(5000, () => load().catch(() => {}));
}
