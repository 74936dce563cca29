// Orbit — demoreel's bundled sample product: sign-in with a one-time code, projects,
// a "New project" dialog, an analytics dashboard, settings and a ⌘K command palette.
// Every page is a full page load of the same shell; state lives in the server (/api/*).
'use strict';

const app = document.getElementById('app');
// A variant of the app, served to try replays against (see `Variant` in sample_app.rs):
// generated class names, a banner, rows in another order, or buttons of another element.
const VARIANT = document.querySelector('meta[name=orbit-variant]')?.content || '';
const SALT = Math.random().toString(36).slice(2, 8);
const h = (tag, attrs = {}, ...children) => {
  if (VARIANT === 'element-type' && tag === 'button') {
    if (attrs.type === 'submit') return h('input', { ...attrs, type: 'submit', value: children.flat().join('') });
    const { onclick, ...rest } = attrs;
    return h('a', { ...rest, type: null, href: '#', onclick: (e) => { e.preventDefault(); if (onclick) onclick(e); } }, ...children);
  }
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class' && VARIANT === 'generated-classes') el.setAttribute('class', String(v).split(' ').map((c) => `${c}-${SALT}`).join(' '));
    else if (k === 'html') el.innerHTML = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null) el.append(c.nodeType ? c : document.createTextNode(String(c)));
  return el;
};
const api = async (method, path, body) => {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error((data && data.error) || res.statusText), { status: res.status });
  return data;
};
const COLORS = ['#4f46e5', '#db2777', '#059669', '#d97706', '#0891b2', '#7c3aed', '#dc2626', '#2563eb'];
const initials = (name) => name.split(/[\s.@_-]+/).filter(Boolean).slice(0, 2).map((p) => p[0].toUpperCase()).join('');
const avatar = (name) => h('span', { class: 'avatar', style: `background:${COLORS[[...name].reduce((a, c) => a + c.charCodeAt(0), 0) % COLORS.length]}` }, initials(name));
const logo = () => h('span', { class: 'logo' }, h('span', { class: 'logo-mark' }), 'Orbit');
const toast = (text) => {
  const t = h('div', { class: 'toast', role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 2600);
};
const ICONS = {
  projects: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><rect x="3" y="4" width="18" height="16" rx="2"/><path d="M3 9h18"/></svg>',
  analytics: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/></svg>',
  settings: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><circle cx="12" cy="12" r="3"/><path d="M19 12a7 7 0 0 0-.1-1.2l2-1.6-2-3.4-2.4 1a7 7 0 0 0-2-1.2L14 3h-4l-.5 2.6a7 7 0 0 0-2 1.2l-2.4-1-2 3.4 2 1.6A7 7 0 0 0 5 12c0 .4 0 .8.1 1.2l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2 1.2L10 21h4l.5-2.6a7 7 0 0 0 2-1.2l2.4 1 2-3.4-2-1.6c.1-.4.1-.8.1-1.2z"/></svg>',
};

// ---------- sign-in ----------
function signIn() {
  const error = h('div', { class: 'form-error', role: 'alert' });
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Work email'),
      h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', placeholder: 'you@company.com', required: true })),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'),
      h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error,
    h('button', { class: 'btn primary wide', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await api('POST', '/api/login', { email: form.email.value, password: form.password.value });
      location.href = '/verify' + location.search;
    } catch (err) {
      error.textContent = err.status === 401 ? 'Incorrect email or password.' : 'Could not sign in: ' + err.message;
    }
  });
  app.append(h('div', { class: 'auth' }, h('div', { class: 'auth-card' }, logo(), h('h1', {}, 'Sign in to Orbit'),
    h('p', {}, 'Welcome back. Use your work account.'), form)));
  document.getElementById('email').focus();
}

async function verify() {
  let pending;
  try { pending = await api('GET', '/api/login/pending'); } catch { location.href = '/login'; return; }
  const error = h('div', { class: 'form-error', role: 'alert' });
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'code' }, 'Verification code'),
      h('input', { id: 'code', name: 'code', class: 'code-input', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, placeholder: '••••••', required: true }),
      h('span', { class: 'hint' }, 'The code expires in 10 minutes.')),
    error,
    h('button', { class: 'btn primary wide', type: 'submit' }, 'Verify'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/api/login/verify', { code: form.code.value.trim() });
      location.href = new URLSearchParams(location.search).get('next') || '/projects';
    } catch (err) {
      error.textContent = err.status === 401 ? 'That code is not right. Check the latest email and try again.' : err.message;
    }
  });
  app.append(h('div', { class: 'auth' }, h('div', { class: 'auth-card' }, logo(), h('h1', {}, 'Check your email'),
    h('p', {}, 'We sent a 6-digit code to ', h('strong', {}, pending.email), '.'), form)));
  document.getElementById('code').focus();
}

// ---------- shell ----------
function shell(route, me, content) {
  const nav = (path, name, icon) => h('a', { class: 'nav' + (route === path ? ' active' : ''), href: path, html: ICONS[icon] + `<span>${name}</span>` });
  app.append(h('div', { class: 'shell' },
    h('nav', { class: 'sidebar', 'aria-label': 'Main' }, logo(),
      nav('/projects', 'Projects', 'projects'), nav('/analytics', 'Analytics', 'analytics'), nav('/settings', 'Settings', 'settings'),
      h('div', { class: 'spacer' }),
      h('div', { class: 'kbd-hint' }, 'Search and commands ', h('kbd', {}, '⌘K')),
      h('div', { class: 'me' }, avatar(me.name), h('div', {}, h('div', { style: 'color:#fff' }, me.name), h('div', { style: 'font-size:12px' }, me.email)))),
    h('main', { class: 'main' }, content)));
}

const header = (title, subtitle, ...actions) =>
  h('div', { class: 'header' }, h('div', {}, h('h1', {}, title), h('p', {}, subtitle)), h('div', {}, ...actions));

// ---------- projects ----------
function projectRow(p, fresh) {
  return h('tr', { class: fresh ? 'new' : '' },
    h('td', {}, h('div', { class: 'project-name' }, p.name), h('div', { style: 'color:#64748b;font-size:12px' }, p.description || '—')),
    h('td', {}, h('span', { class: 'owner' }, avatar(p.owner), p.owner)),
    h('td', {}, h('span', { class: 'status ' + p.status }, p.status[0].toUpperCase() + p.status.slice(1))),
    h('td', {}, h('div', { class: 'bar', title: `${p.progress}% complete` }, h('span', { style: `width:${p.progress}%` }))),
    h('td', { style: 'color:#64748b' }, p.updated));
}

async function projects(me) {
  const list = await api('GET', '/api/projects');
  const body = h('tbody', {}, (VARIANT === 'row-order' ? [...list].reverse() : list).map((p) => projectRow(p)));
  const count = h('p', {}, `${list.length} projects across your workspace`);
  const head = header('Projects', '', h('button', { class: 'btn primary', type: 'button', onclick: () => newProject(body, count) }, 'New project'));
  head.querySelector('p').replaceWith(count);
  shell('/projects', me, [head, h('div', { class: 'card' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Project', 'Owner', 'Status', 'Progress', 'Updated'].map((t) => h('th', {}, t)))), body))]);
}

function newProject(body, count) {
  const error = h('div', { class: 'form-error', role: 'alert' });
  const close = () => backdrop.remove();
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'project-name' }, 'Project name'),
      h('input', { id: 'project-name', name: 'name', placeholder: 'e.g. Website relaunch', required: true, maxlength: 80 })),
    h('div', { class: 'field' }, h('label', { for: 'project-owner' }, 'Owner email'),
      h('input', { id: 'project-owner', name: 'owner', type: 'email', placeholder: 'owner@company.com', required: true })),
    h('div', { class: 'field' }, h('label', { for: 'project-description' }, 'Description'),
      h('textarea', { id: 'project-description', name: 'description', rows: 3, placeholder: 'What is this project about? (optional)' })),
    h('div', { class: 'field' }, h('label', { for: 'project-visibility' }, 'Visibility'),
      h('select', { id: 'project-visibility', name: 'visibility' }, h('option', { value: 'team' }, 'Team'), h('option', { value: 'private' }, 'Private'), h('option', { value: 'public' }, 'Public'))),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: close }, 'Cancel'), h('button', { class: 'btn primary', type: 'submit' }, 'Create project')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const missing = [...form.querySelectorAll('[required]')].filter((f) => !f.value.trim());
    if (missing.length) { error.textContent = `${form.querySelector(`label[for=${missing[0].id}]`).textContent} is required.`; missing[0].focus(); return; }
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.owner.value.trim())) { error.textContent = 'Owner email must be an email address.'; form.owner.focus(); return; }
    try {
      const p = await api('POST', '/api/projects', { name: form.name.value.trim(), owner: form.owner.value.trim(), description: form.description.value.trim(), visibility: form.visibility.value });
      close();
      body.prepend(projectRow(p, true));
      count.textContent = `${body.children.length} projects across your workspace`;
      toast(`Project “${p.name}” created`);
    } catch (err) { error.textContent = err.message; }
  });
  const backdrop = h('div', { class: 'backdrop', onclick: (e) => e.target === backdrop && close() },
    h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'new-project-title' },
      h('h2', { id: 'new-project-title' }, 'New project'), h('p', {}, 'Projects group your team’s work and reports.'), form));
  backdrop.addEventListener('keydown', (e) => e.key === 'Escape' && close());
  document.body.append(backdrop);
  form.name.focus();
}

// ---------- analytics ----------
function lineChart(series) {
  const W = 640, H = 240, P = 28, max = Math.max(...series.flatMap((s) => s.values)) * 1.1;
  const x = (i, n) => P + (i * (W - 2 * P)) / (n - 1), y = (v) => H - P - (v / max) * (H - 2 * P);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => `<line x1="${P}" x2="${W - P}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="#e2e8f0"/>`).join('');
  const lines = series.map((s) => {
    const pts = s.values.map((v, i) => `${x(i, s.values.length).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polygon points="${P},${H - P} ${pts} ${W - P},${H - P}" fill="${s.color}" opacity=".08"/><polyline class="draw" points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.5" stroke-linejoin="round"/>`;
  }).join('');
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Visitors and sign-ups over 30 days">${grid}${lines}</svg>`;
}

function barChart(items) {
  const W = 300, H = 240, P = 24, max = Math.max(...items.map((i) => i.value)), bw = (W - 2 * P) / items.length;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Sign-ups by channel">` + items.map((it, i) => {
    const bh = (it.value / max) * (H - 3 * P);
    return `<rect class="grow" style="animation-delay:${i * 80}ms" x="${P + i * bw + 8}" y="${H - 2 * P - bh}" width="${bw - 16}" height="${bh}" rx="5" fill="${COLORS[i]}"/>` +
      `<text x="${P + i * bw + bw / 2}" y="${H - P - 8}" text-anchor="middle" font-size="11" fill="#64748b">${it.label}</text>`;
  }).join('') + '</svg>';
}

async function analytics(me) {
  const data = await api('GET', '/api/analytics');
  const kpi = (k) => h('div', { class: 'card kpi' }, h('div', { class: 'label' }, k.label), h('div', { class: 'value' }, k.value),
    h('div', { class: 'delta ' + (k.delta >= 0 ? 'up' : 'down') }, `${k.delta >= 0 ? '▲' : '▼'} ${Math.abs(k.delta)}% vs last month`));
  shell('/analytics', me, [header('Analytics', 'Last 30 days · all projects'),
    h('div', { class: 'kpis' }, data.kpis.map(kpi)),
    h('div', { class: 'charts' },
      h('div', { class: 'card chart' }, h('h3', {}, 'Visitors and sign-ups'), h('div', { html: lineChart(data.series) })),
      h('div', { class: 'card chart' }, h('h3', {}, 'Sign-ups by channel'), h('div', { html: barChart(data.channels) })))]);
}

// ---------- settings ----------
async function settings(me) {
  const team = await api('GET', '/api/team');
  const toggle = (label, on) => h('label', { class: 'toggle-row' }, h('span', {}, label), h('input', { type: 'checkbox', checked: on }));
  const profile = h('form', { class: 'card', novalidate: true }, h('h3', {}, 'Profile'),
    h('div', { class: 'field' }, h('label', { for: 'full-name' }, 'Full name'), h('input', { id: 'full-name', value: me.name })),
    h('div', { class: 'field' }, h('label', { for: 'profile-email' }, 'Email'), h('input', { id: 'profile-email', type: 'email', value: me.email })),
    h('button', { class: 'btn primary', type: 'submit' }, 'Save changes'));
  profile.addEventListener('submit', (e) => { e.preventDefault(); toast('Settings saved'); });
  shell('/settings', me, [header('Settings', 'Your profile, notifications and team'),
    h('div', { class: 'settings' }, profile,
      h('div', { class: 'card' }, h('h3', {}, 'Notifications'), toggle('Weekly report', true), toggle('Project updates', true), toggle('Product news', false)),
      h('div', { class: 'card', style: 'grid-column: span 2' }, h('h3', {}, 'Team members'),
        team.map((m) => h('div', { class: 'member' }, avatar(m.name), h('div', { class: 'who' }, h('div', {}, m.name), h('div', {}, m.email)), h('span', { class: 'status planning' }, m.role)))))]);
}

// ---------- ⌘K command palette ----------
const COMMANDS = [
  { name: 'Go to Projects', hint: 'Navigation', run: () => (location.href = '/projects') },
  { name: 'Go to Analytics', hint: 'Navigation', run: () => (location.href = '/analytics') },
  { name: 'Go to Settings', hint: 'Navigation', run: () => (location.href = '/settings') },
  { name: 'Create new project', hint: 'Action', run: () => (location.pathname === '/projects' ? document.querySelector('.header .btn.primary').click() : (location.href = '/projects')) },
  { name: 'Sign out', hint: 'Account', run: async () => { await api('POST', '/api/logout'); location.href = '/login'; } },
];

function palette() {
  if (document.querySelector('.palette')) return;
  let selected = 0, shown = COMMANDS;
  const list = h('ul', { role: 'listbox', id: 'palette-list' });
  const input = h('input', { placeholder: 'Type a command or search…', 'aria-label': 'Command', 'aria-controls': 'palette-list', autocomplete: 'off' });
  const close = () => backdrop.remove();
  const draw = () => {
    list.replaceChildren(...shown.map((c, i) => h('li', { role: 'option', 'aria-selected': String(i === selected), onclick: () => { close(); c.run(); } }, h('span', {}, c.name), h('span', { class: 'hint' }, c.hint))));
  };
  input.addEventListener('input', () => {
    const q = input.value.toLowerCase();
    shown = COMMANDS.filter((c) => c.name.toLowerCase().includes(q));
    selected = 0;
    draw();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { selected = Math.min(selected + 1, shown.length - 1); draw(); e.preventDefault(); }
    else if (e.key === 'ArrowUp') { selected = Math.max(selected - 1, 0); draw(); e.preventDefault(); }
    else if (e.key === 'Enter' && shown[selected]) { close(); shown[selected].run(); }
    else if (e.key === 'Escape') close();
  });
  const backdrop = h('div', { class: 'backdrop', onclick: (e) => e.target === backdrop && close() },
    h('div', { class: 'palette', role: 'dialog', 'aria-label': 'Command palette' }, input, list));
  draw();
  document.body.append(backdrop);
  input.focus();
}

// ---------- routing ----------
const PAGES = { '/projects': projects, '/analytics': analytics, '/settings': settings };

async function start() {
  if (VARIANT === 'banner') {
    document.body.prepend(h('div', { role: 'status', style: 'height:96px;display:flex;align-items:center;padding:0 32px;background:#fde68a;color:#713f12;font:600 16px system-ui' },
      'Scheduled maintenance on Saturday, 02:00–04:00 UTC. Projects stay read-only meanwhile.'));
  }
  const path = location.pathname.replace(/\/$/, '') || '/projects';
  if (path === '/login') return signIn();
  if (path === '/verify') return verify();
  const page = PAGES[path];
  if (!page) { app.append(h('div', { class: 'auth' }, h('div', { class: 'auth-card' }, logo(), h('h1', {}, 'Page not found'), h('a', { href: '/projects' }, 'Back to projects')))); return; }
  let me;
  try { me = await api('GET', '/api/session'); } catch { location.href = '/login?next=' + encodeURIComponent(path); return; }
  document.addEventListener('keydown', (e) => {
    if ((e.metaKey || e.ctrlKey) && e.key.toLowerCase() === 'k') { e.preventDefault(); palette(); }
  });
  await page(me);
}

start();
