// Simulator: the faults a simulated provider's model injects, changed at
// runtime (for game days). Only sim providers take faults.
import { api, h, card, pageHead, table, field, fmt, guarded, toast, APIError } from './lib.js';

const faults = [
  ['reset', 'Connection reset before any header'],
  ['hang', 'Never answers'],
  ['slow_first_token', 'Delays the first token by the delay'],
  ['content_filter', 'Refuses (400 content_filter)'],
  ['cut', 'Cuts a stream after N tokens'],
  ['stall', 'Stalls a stream after N tokens for the delay'],
  ['malformed', 'Sends a malformed event after N tokens'],
  ['no_done', 'Ends a stream without [DONE]'],
  ['error_event', 'Ends a stream with an error event'],
];
const statuses = ['429', '500', '502', '503'];

export async function render(main) {
  const targets = (await api('GET', '/admin/v1/breakers')).data.map(b => b.target);
  const pick = h('select', { id: 'sim-target' }, targets.map(t => h('option', { value: t, text: t })));
  const sim = targets.find(t => t.startsWith('sim/'));
  if (sim) pick.value = sim;
  const body = h('div', {});
  pick.addEventListener('change', () => guarded(load));
  main.replaceChildren(pageHead('Simulator', 'Inject failures into a simulated provider\'s model, then watch the Overview and Routing pages.'),
    card('', h('div', { class: 'form-row' }, field('Target', pick))), body);

  async function load() {
    const [provider, ...rest] = pick.value.split('/');
    const model = rest.join('/');
    const path = `/admin/v1/providers/${encodeURIComponent(provider)}/models/${encodeURIComponent(model)}/faults`;
    let cur;
    try {
      cur = await api('GET', path);
    } catch (e) {
      if (e instanceof APIError && e.status === 404) { body.replaceChildren(h('div', { class: 'notice', text: e.message })); return; }
      throw e;
    }
    const rate = (id, v) => h('input', { id, type: 'number', min: 0, max: 1, step: '0.05', value: v || '', placeholder: '0' });
    const errInputs = statuses.map(s => rate(`sim-err-${s}`, (cur.error_rates || {})[s]));
    const retryAfter = h('input', { id: 'sim-retry-after', value: cur.retry_after && cur.retry_after !== '0s' ? cur.retry_after : '', placeholder: '0s' });
    const rows = faults.map(([name, desc]) => {
      const f = cur[name] || {};
      return { name, desc, rate: rate(`sim-${name}-rate`, f.rate), after: h('input', { id: `sim-${name}-after`, type: 'number', min: 0, value: f.after_tokens || '', placeholder: '0' }),
        delay: h('input', { id: `sim-${name}-delay`, value: f.delay && f.delay !== '0s' ? f.delay : '', placeholder: '0s' }) };
    });
    const active = Object.values(cur.error_rates || {}).some(v => v > 0) || faults.some(([n]) => (cur[n] || {}).rate > 0);
    const apply = async body => {
      const next = await api('PUT', path, body);
      toast(Object.keys(body).length ? 'Faults applied' : 'Faults cleared');
      await load();
      return next;
    };
    body.replaceChildren(card(`Faults of ${pick.value}`,
      h('p', { class: active ? 'error' : 'muted', id: 'sim-state', text: active ? 'Faults are being injected.' : 'No faults: the model answers normally.' }),
      h('h3', { text: 'HTTP errors (share of requests)' }),
      h('div', { class: 'form-row' }, ...statuses.map((s, i) => field(s, errInputs[i])), field('Retry-After (429)', retryAfter)),
      h('h3', { text: 'Failures' }),
      table([
        { label: 'Fault', value: r => h('strong', { text: r.name }) },
        { label: 'What it does', value: r => h('span', { class: 'muted', text: r.desc }) },
        { label: 'Rate', value: r => r.rate },
        { label: 'After tokens', value: r => r.after },
        { label: 'Delay', value: r => r.delay },
      ], rows),
      h('div', { class: 'actions' },
        h('button', { class: 'primary', id: 'sim-apply', text: 'Apply', onclick: () => guarded(() => {
          const out = { error_rates: {} };
          statuses.forEach((s, i) => { const v = Number(errInputs[i].value); if (v > 0) out.error_rates[s] = v; });
          if (retryAfter.value.trim()) out.retry_after = retryAfter.value.trim();
          rows.forEach(r => {
            const f = {};
            if (Number(r.rate.value) > 0) f.rate = Number(r.rate.value);
            if (Number(r.after.value) > 0) f.after_tokens = Number(r.after.value);
            if (r.delay.value.trim()) f.delay = r.delay.value.trim();
            if (Object.keys(f).length) out[r.name] = f;
          });
          return apply(out);
        }) }),
        h('button', { class: 'danger', id: 'sim-clear', text: 'Clear all faults', onclick: () => guarded(() => apply({})) })),
      h('p', { class: 'muted', text: `Rates are shares from 0 to 1; delays are durations such as 750ms or 2s. ${fmt.num(targets.length)} targets in the routing table.` })));
  }
  await load();
}
