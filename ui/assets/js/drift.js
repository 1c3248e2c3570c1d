// Drift: each alias's distributions now against its baseline.
import { api, h, card, pageHead, badge, fmt, guarded, toast, APIError } from './lib.js';
import { columnChart } from './chart.js';

function psiBadge(s) {
  if (!s.ready) return badge('collecting', '');
  if (s.psi >= 0.25) return badge(`PSI ${s.psi.toFixed(3)} drift`, 'bad');
  if (s.psi >= 0.1) return badge(`PSI ${s.psi.toFixed(3)} watch`, 'warn');
  return badge(`PSI ${s.psi.toFixed(3)}`, 'ok');
}
const shares = xs => { const n = (xs || []).reduce((a, v) => a + v, 0); return (xs || []).map(v => (n ? v / n : 0)); };

export async function render(main) {
  let reports;
  try {
    reports = (await api('GET', '/admin/v1/drift')).data;
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 404) throw e;
    main.replaceChildren(pageHead('Drift', ''), h('div', { class: 'notice', text: e.message }));
    return;
  }
  main.replaceChildren(pageHead('Drift', 'Each alias\'s recent requests scored against its baseline by population stability index (PSI): under 0.1 is stable, 0.25 and over has drifted.'),
    ...(reports.length ? [] : [card('', h('div', { class: 'empty', text: 'No alias has served a request since the start.' }))]),
    ...reports.map(r => card(r.alias,
      h('div', { class: 'spread' },
        h('p', { class: 'muted' }, `${fmt.num(r.current_samples)} recent samples · baseline ${fmt.num(r.baseline_samples)} samples`,
          r.baseline_start ? ` since ${fmt.time(r.baseline_start)}` : ' (none yet)'),
        h('button', { class: 'small', text: 'Take current as baseline', onclick: () => guarded(async () => {
          if (!confirm(`Make ${r.alias}'s current window its baseline?`)) return;
          await api('POST', `/admin/v1/drift/${encodeURIComponent(r.alias)}/rebaseline`); toast('Baseline replaced'); render(main);
        }) })),
      h('div', { class: 'grid' }, r.scores.filter(s => (s.current || []).some(v => v) || (s.baseline || []).some(v => v)).map(s =>
        h('div', {}, h('h3', {}, s.dimension.replace(/_/g, ' ') + (s.dimension === 'latency' ? ' (s)' : ''), ' ', psiBadge(s)),
          columnChart(s.current.map((_, i) => (s.buckets || [])[i] || String(i + 1)),
            [{ name: 'current', values: shares(s.current) }, { name: 'baseline', values: shares(s.baseline).length ? shares(s.baseline) : s.current.map(() => 0) }],
            { format: v => fmt.pct(v), height: 150, title: `${s.dimension} by bucket` })))),
      r.no_context ? h('p', { class: 'muted', text: `Grounded requests without context: ${fmt.pct(r.no_context.current)} now, ${fmt.pct(r.no_context.baseline)} in the baseline.` }) : null)));
}
