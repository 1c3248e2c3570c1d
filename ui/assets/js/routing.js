// Routing: every target's breaker, adaptive concurrency limit and queue,
// and what admission control shed, by class and by tenant.
import { api, h, card, pageHead, table, badge, fmt, kpi } from './lib.js';
import { barChart } from './chart.js';

const stateKind = { closed: 'ok', 'half-open': 'warn', half_open: 'warn', open: 'bad' };
const sum = o => Object.values(o || {}).reduce((a, v) => a + (typeof v === 'number' ? v : sum(v)), 0);

export async function render(main, ctx) {
  const body = h('div', {});
  main.replaceChildren(pageHead('Routing', 'Breakers, adaptive limits and sheds of this replica. Refreshes every 5 seconds.'), body);
  async function load() {
    const [br, cap] = await Promise.all([api('GET', '/admin/v1/breakers'), api('GET', '/admin/v1/capacity')]);
    const classes = Object.keys(cap.admitted || {}).sort();
    const shedByTenant = {};
    (cap.targets || []).forEach(t => Object.entries(t.shed_by_tenant || {}).forEach(([k, v]) => { shedByTenant[k] = (shedByTenant[k] || 0) + v; }));
    const targetShed = (t, c) => sum((t.shed || {})[c]);
    body.replaceChildren(
      h('div', { class: 'kpis' },
        kpi('In flight', `${fmt.num(cap.inflight)} / ${fmt.num(cap.max_inflight)}`),
        kpi('Queued', `${fmt.num(cap.queued)} / ${fmt.num(cap.max_queued)}`),
        kpi('Admitted', fmt.num(sum(cap.admitted))),
        kpi('Shed at the gate', fmt.num(sum(cap.shed))),
        kpi('Shed at targets', fmt.num((cap.targets || []).reduce((a, t) => a + sum(t.shed), 0))),
        kpi('Open breakers', fmt.num(br.data.filter(b => b.breaker.state !== 'closed').length))),
      card('Breakers', table([
        { label: 'Target', value: b => h('strong', { text: b.target }) },
        { label: 'State', value: b => badge(b.breaker.state, stateKind[b.breaker.state] || '') },
        { label: 'Opens again in', value: b => (b.breaker.remaining_open_ns ? fmt.ns(b.breaker.remaining_open_ns) : '—') },
        { label: 'Failures', num: true, value: b => fmt.num(b.breaker.failures) },
        { label: 'Successes', num: true, value: b => fmt.num(b.breaker.successes) },
        { label: 'Outstanding', num: true, value: b => fmt.num(b.outstanding) },
        { label: 'p95 latency', num: true, value: b => fmt.dur(b.p95_latency) },
      ], br.data, { id: 'breakers-table', empty: 'No targets.' })),
      h('div', { class: 'grid' },
        card('Adaptive limits', barChart((cap.targets || []).map(t => ({ name: t.target, values: [t.limit, t.inflight] })),
          { keys: ['limit', 'in flight'], format: v => fmt.num(v), labelWidth: 190 })),
        card('Sheds by class', barChart(classes.map(c => ({ name: c, values: [sum((cap.shed || {})[c]), (cap.targets || []).reduce((a, t) => a + targetShed(t, c), 0)] })),
          { keys: ['at the gate', 'at targets'], format: v => fmt.num(v), empty: 'Nothing has been shed.' }))),
      h('div', { class: 'grid' },
        card('Sheds by tenant', barChart(Object.entries(shedByTenant).sort((a, b) => b[1] - a[1]).map(([name, value]) => ({ name, value })),
          { format: v => fmt.num(v), empty: 'No tenant has been shed.' })),
        card('Targets', table([
          { label: 'Target', value: t => t.target },
          { label: 'Limit', num: true, value: t => t.limit.toFixed(1) },
          { label: 'In flight', num: true, value: t => fmt.num(t.inflight) },
          { label: 'Queued', num: true, value: t => fmt.num(sum(t.queued)) },
          { label: 'Service time', num: true, value: t => fmt.dur(t.service_time) },
          { label: 'Paused', value: t => t.paused_for || '—' },
        ], cap.targets || []))),
    );
  }
  await load();
  ctx.every(5000, () => load().catch(() => {}));
}
