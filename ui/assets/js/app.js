// The console's shell: sign-in, navigation between pages (#/name) and the
// refresh timers of the page shown.
import { session, setUnauthorizedHandler, api, h, guarded } from './lib.js';
import * as overview from './overview.js';
import * as tenants from './tenants.js';
import * as routing from './routing.js';
import * as drift from './drift.js';
import * as requests from './requests.js';
import * as usage from './usage.js';
import * as simulator from './simulator.js';

const pages = { overview, tenants, routing, drift, requests, usage, simulator };
let leave = [];

function showLogin(message) {
  session.clear();
  document.getElementById('shell').hidden = true;
  document.getElementById('login').hidden = false;
  const err = document.getElementById('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  document.getElementById('login-key').focus();
}

async function show() {
  leave.forEach(f => f());
  leave = [];
  if (!session.key) { showLogin(); return; }
  document.getElementById('login').hidden = true;
  document.getElementById('shell').hidden = false;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
  const page = pages[name] || overview;
  document.querySelectorAll('.side a').forEach(a => a.classList.toggle('active', a.dataset.page === name));
  const main = document.getElementById('main');
  main.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  main.dataset.page = name;
  main.dataset.ready = 'false';
  const ctx = { every: (ms, f) => { const t = setInterval(f, ms); leave.push(() => clearInterval(t)); } };
  await guarded(() => page.render(main, ctx));
  main.dataset.ready = 'true';
}

document.getElementById('login-form').addEventListener('submit', async e => {
  e.preventDefault();
  const key = document.getElementById('login-key').value.trim();
  if (!key) return;
  session.set(key);
  try {
    await api('GET', '/admin/v1/tenants');
  } catch (err) {
    showLogin(err.status === 401 || err.status === 403 ? 'That key is not an admin key.' : err.message);
    return;
  }
  document.getElementById('login-key').value = '';
  if (!location.hash) location.hash = '#/overview';
  show();
});
document.getElementById('logout').addEventListener('click', () => { showLogin(); });
setUnauthorizedHandler(() => showLogin('The admin key was refused; sign in again.'));
window.addEventListener('hashchange', show);
show();
