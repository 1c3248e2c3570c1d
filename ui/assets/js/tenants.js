// Tenants and keys: create, limits, budgets, revoke, rotate. A key's
// secret is shown once, in the answer that created it.
import { api, h, card, pageHead, table, field, badge, fmt, guarded, toast, limitsText } from './lib.js';

let selected = null; // the tenant whose keys are shown

function num(id, placeholder) { return h('input', { id, type: 'number', min: 0, placeholder: placeholder || '—' }); }
function limitsFrom(prefix) {
  const v = id => { const s = document.getElementById(prefix + id).value; return s === '' ? undefined : Number(s); };
  const l = { requests_per_minute: v('-rpm'), tokens_per_minute: v('-tpm'), concurrent: v('-conc') };
  Object.keys(l).forEach(k => l[k] === undefined && delete l[k]);
  return l;
}
function limitInputs(prefix, l = {}) {
  const rpm = num(prefix + '-rpm'), tpm = num(prefix + '-tpm'), conc = num(prefix + '-conc');
  if (l.requests_per_minute) rpm.value = l.requests_per_minute;
  if (l.tokens_per_minute) tpm.value = l.tokens_per_minute;
  if (l.concurrent) conc.value = l.concurrent;
  return [field('Requests / min', rpm), field('Tokens / min', tpm), field('Concurrent', conc)];
}

function budgetEditor(kind, id, refresh) {
  const box = h('div', { class: 'stack' }, h('p', { class: 'muted', text: 'Loading budget…' }));
  (async () => {
    let b = null;
    try { b = await api('GET', `/admin/v1/${kind}/${id}/budget`); } catch (e) { if (e.status !== 404) throw e; }
    const amount = h('input', { id: `${kind}-budget-amount`, type: 'number', min: 0, step: '0.01', placeholder: 'USD' });
    const period = h('select', { id: `${kind}-budget-period` }, h('option', { value: 'month', text: 'month' }), h('option', { value: 'day', text: 'day' }));
    const hard = h('input', { type: 'checkbox', id: `${kind}-budget-hard` });
    if (b) { amount.value = b.amount_usd; period.value = b.period; hard.checked = !!b.hard; }
    box.replaceChildren(
      b ? h('p', {}, `Spent ${fmt.usd(b.spent_usd || 0)} of ${fmt.usd(b.amount_usd)} this ${b.period} `, badge(b.hard ? 'hard' : 'soft', b.hard ? 'warn' : '')) : h('p', { class: 'muted', text: 'No budget.' }),
      h('div', { class: 'form-row' }, field('Amount (USD)', amount), field('Period', period),
        h('label', { class: 'check' }, hard, 'Hard (refuse when spent)'),
        h('button', { class: 'primary small', text: 'Save budget', onclick: () => guarded(async () => {
          await api('PUT', `/admin/v1/${kind}/${id}/budget`, { amount_usd: Number(amount.value), period: period.value, hard: hard.checked });
          toast('Budget saved'); refresh();
        }) }),
        b ? h('button', { class: 'danger small', text: 'Remove budget', onclick: () => guarded(async () => {
          await api('DELETE', `/admin/v1/${kind}/${id}/budget`); toast('Budget removed'); refresh();
        }) }) : null));
  })().catch(e => box.replaceChildren(h('p', { class: 'error', text: e.message })));
  return box;
}

export async function render(main) {
  const secretBox = h('div', {});
  const tenantsBox = h('div', {});
  const keysBox = h('div', {});
  main.replaceChildren(pageHead('Tenants & keys', 'Who may call Bulwark, with what limits and budgets.'), secretBox, tenantsBox, keysBox);

  function showSecret(key, what) {
    secretBox.replaceChildren(h('div', { class: 'secret', id: 'new-secret' },
      h('strong', { text: `${what}: copy the secret now — it is not shown again.` }),
      h('code', { id: 'new-secret-value', text: key.secret }),
      h('span', { class: 'muted', text: `Key ${key.id} of tenant ${key.tenant_id}` }),
      h('div', { class: 'actions' },
        h('button', { class: 'small', text: 'Copy', onclick: () => navigator.clipboard.writeText(key.secret).then(() => toast('Copied'), () => toast('Copy it by hand', true)) }),
        h('button', { class: 'small', text: 'Dismiss', onclick: () => secretBox.replaceChildren() }))));
  }

  async function loadTenants() {
    const ts = (await api('GET', '/admin/v1/tenants')).data;
    if (!selected || !ts.some(t => t.id === selected)) selected = ts.length ? ts[0].id : null;
    const id = h('input', { id: 'tenant-id', placeholder: 'acme', pattern: '[a-z0-9][a-z0-9_-]*', required: true });
    const name = h('input', { id: 'tenant-name', placeholder: 'Acme Inc.' });
    const form = h('form', { class: 'form-row', id: 'tenant-form' }, field('ID', id), field('Name', name), ...limitInputs('tenant-new'),
      h('button', { class: 'primary', type: 'submit', text: 'Create tenant' }));
    form.addEventListener('submit', e => { e.preventDefault(); guarded(async () => {
      await api('POST', '/admin/v1/tenants', { id: id.value.trim(), name: name.value.trim() || id.value.trim(), limits: limitsFrom('tenant-new') });
      selected = id.value.trim(); toast(`Tenant ${selected} created`); await loadTenants();
    }); });
    tenantsBox.replaceChildren(card('Tenants',
      table([
        { label: 'ID', value: t => h('strong', { text: t.id }) },
        { label: 'Name', value: t => t.name },
        { label: 'Limits', value: t => limitsText(t.limits) },
        { label: 'Priority', value: t => t.priority || 'interactive' },
        { label: 'Tags', value: t => Object.entries(t.tags || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—' },
        { label: 'Created', value: t => fmt.time(t.created_at) },
      ], ts, { id: 'tenants-table', onRow: t => { selected = t.id; loadTenants(); } }),
      h('h3', { text: 'New tenant' }), form));
    tenantsBox.querySelectorAll('#tenants-table tbody tr').forEach((tr, i) => tr.classList.toggle('selected', ts[i].id === selected));
    await loadKeys(ts.find(t => t.id === selected));
  }

  async function loadKeys(t) {
    if (!t) { keysBox.replaceChildren(); return; }
    const keys = (await api('GET', `/admin/v1/keys?tenant_id=${encodeURIComponent(t.id)}`)).data;
    const detail = h('div', {});
    const name = h('input', { id: 'key-name', placeholder: 'backend-prod', required: true });
    const admin = h('input', { type: 'checkbox', id: 'key-admin' });
    const form = h('form', { class: 'form-row', id: 'key-form' }, field('Name', name), ...limitInputs('key-new'),
      h('label', { class: 'check' }, admin, 'Admin'), h('button', { class: 'primary', type: 'submit', text: 'Create key' }));
    form.addEventListener('submit', e => { e.preventDefault(); guarded(async () => {
      const k = await api('POST', '/admin/v1/keys', { tenant_id: t.id, name: name.value.trim(), admin: admin.checked, limits: limitsFrom('key-new') });
      showSecret(k, 'Key created'); await loadKeys(t);
    }); });
    const keyActions = k => h('div', { class: 'actions' },
      h('button', { class: 'small', text: 'Edit', onclick: e => { e.stopPropagation(); editKey(k); } }),
      k.status === 'active' ? h('button', { class: 'small', text: 'Rotate', dataset: { key: k.id, action: 'rotate' }, onclick: e => { e.stopPropagation(); guarded(async () => {
        if (!confirm(`Rotate ${k.name}? The old secret stops working now.`)) return;
        const nk = await api('POST', `/admin/v1/keys/${k.id}/rotate`); showSecret(nk, 'Key rotated'); await loadKeys(t);
      }); } }) : null,
      k.status === 'active' ? h('button', { class: 'small danger', text: 'Revoke', dataset: { key: k.id, action: 'revoke' }, onclick: e => { e.stopPropagation(); guarded(async () => {
        if (!confirm(`Revoke ${k.name}? Requests with it are refused from now on.`)) return;
        await api('POST', `/admin/v1/keys/${k.id}/revoke`); toast(`Key ${k.name} revoked`); await loadKeys(t);
      }); } }) : null);
    function editKey(k) {
      const save = h('button', { class: 'primary small', text: 'Save limits', onclick: () => guarded(async () => {
        const l = limitsFrom('key-edit');
        ['requests_per_minute', 'tokens_per_minute', 'concurrent'].forEach(f => { if (l[f] === undefined) l[f] = 0; });
        await api('PATCH', `/admin/v1/keys/${k.id}`, { limits: l }); toast('Limits saved'); await loadKeys(t);
      }) });
      detail.replaceChildren(card(`Key ${k.name}`,
        h('dl', { class: 'props' }, h('dt', { text: 'ID' }), h('dd', { class: 'mono', text: k.id }),
          h('dt', { text: 'Prefix' }), h('dd', { class: 'mono', text: k.prefix + '…' }),
          h('dt', { text: 'Status' }), h('dd', {}, badge(k.status, k.status === 'active' ? 'ok' : 'bad'))),
        h('h3', { text: 'Limits' }), h('div', { class: 'form-row' }, ...limitInputs('key-edit', k.limits), save),
        h('h3', { text: 'Budget' }), budgetEditor('keys', k.id, () => editKey(k))));
    }
    keysBox.replaceChildren(
      card(`Tenant ${t.id}`,
        h('h3', { text: 'Limits' }),
        h('div', { class: 'form-row' }, ...limitInputs('tenant-edit', t.limits),
          h('button', { class: 'primary small', text: 'Save limits', onclick: () => guarded(async () => {
            const l = limitsFrom('tenant-edit');
            ['requests_per_minute', 'tokens_per_minute', 'concurrent'].forEach(f => { if (l[f] === undefined) l[f] = 0; });
            await api('PATCH', `/admin/v1/tenants/${t.id}`, { limits: l }); toast('Limits saved'); await loadTenants();
          }) })),
        h('h3', { text: 'Budget' }), budgetEditor('tenants', t.id, () => loadKeys(t))),
      card(`Keys of ${t.id}`,
        table([
          { label: 'Name', value: k => h('strong', { text: k.name }) },
          { label: 'ID', value: k => h('span', { class: 'mono', text: k.id }) },
          { label: 'Prefix', value: k => h('span', { class: 'mono', text: k.prefix + '…' }) },
          { label: 'Status', value: k => badge(k.status, k.status === 'active' ? 'ok' : 'bad') },
          { label: 'Admin', value: k => (k.admin ? badge('admin', 'warn') : '') },
          { label: 'Limits', value: k => limitsText(k.limits) },
          { label: 'Created', value: k => fmt.time(k.created_at) },
          { label: '', value: keyActions },
        ], keys, { id: 'keys-table', empty: 'This tenant has no keys yet.' }),
        h('h3', { text: 'New key' }), form),
      detail);
  }
  await loadTenants();
}
