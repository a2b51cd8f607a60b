/*
 * warren's web console: one script, no framework, no build step.  It talks
 * only to the public HTTP API (/api/...) with the Basic credentials typed
 * into the login form (kept in sessionStorage for this tab).  Pages live in
 * the URL fragment (#/queues/%2F/orders) so links can be shared.  Lists are
 * paginated, filtered and sorted by the broker, never in the browser, so a
 * broker with 100,000 queues costs the page one page of rows.  Charts are
 * drawn on <canvas> from the rates the broker reports, keeping the points
 * this page has seen since it was opened.
 */
'use strict';

/* ------------------------------------------------------------ helpers */

const REFRESH_MS = 5000;
const CHART_POINTS = 120; /* 10 minutes at one point per 5 s */

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'style') el.style.cssText = v; /* CSSOM: allowed by the CSP, unlike style attributes */
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

/* Append kids (nodes, text, nested arrays; null and false are skipped). */
function put(el, ...kids) {
  return add(el, kids);
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const enc = encodeURIComponent;

function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US');
}

function fmtRate(r) {
  if (r === undefined || r === null) return '–';
  const digits = r >= 100 || r === 0 ? 0 : r >= 10 ? 1 : 2;
  return r.toLocaleString('en-US', { maximumFractionDigits: digits }) + '/s';
}

function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

function fmtDuration(ms) {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return d ? `${d}d ${hh}h` : hh ? `${hh}h ${m}m` : m ? (s ? `${m}m ${s}s` : `${m} min`) : `${s}s`;
}

function rate(o, key) {
  const d = o && o[key + '_details'];
  return d && typeof d.rate === 'number' ? d.rate : 0;
}

function get(o, path) {
  for (const p of path.split('.')) {
    if (o === undefined || o === null) return undefined;
    o = o[p];
  }
  return o;
}

function json(v) {
  return JSON.stringify(v);
}

function argsText(a) {
  const keys = Object.keys(a || {});
  return keys.length ? keys.map(k => `${k}: ${json(a[k])}`).join(', ') : '';
}

/* ------------------------------------------------------------ the API */

class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

const auth = {
  key: 'warren.auth',
  get() { return sessionStorage.getItem(this.key); },
  set(user, pass) {
    const bytes = new TextEncoder().encode(`${user}:${pass}`);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    sessionStorage.setItem(this.key, btoa(bin));
  },
  clear() { sessionStorage.removeItem(this.key); },
};

/*
 * One API call.  credentials: 'omit' keeps the browser from showing its own
 * Basic-auth dialog on a 401 (the broker sends WWW-Authenticate, as
 * RabbitMQ does); the credentials go in the header we set.
 */
async function api(method, path, body, headers) {
  const hd = Object.assign({ accept: 'application/json' }, headers || {});
  const a = auth.get();
  if (a) hd.authorization = 'Basic ' + a;
  if (body !== undefined) hd['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch('api' + path, {
      method, headers: hd, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `The broker did not answer (${e.message}).`);
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  if (!r.ok) {
    const err = data && typeof data === 'object' ? data : {};
    const e = new ApiError(r.status, err.error, err.reason || `${r.status} ${r.statusText}`);
    if (r.status === 401 && err.reason === 'Login failed' && app.user) {
      /* the password changed or the user went away: back to the login form */
      logout('Login failed: the broker no longer accepts these credentials.');
    }
    throw e;
  }
  return data;
}

function qs(params) {
  const p = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return p.length ? '?' + p.map(([k, v]) => `${k}=${enc(v)}`).join('&') : '';
}

/* ------------------------------------------------------------ the shell */

const app = {
  user: null,        /* whoami */
  vhosts: [],
  page: null,        /* { refresh(), dispose() } */
  busy: false,
  timer: null,
};

function hasTag(tag) {
  const tags = (app.user && app.user.tags) || [];
  const list = Array.isArray(tags) ? tags : String(tags).split(',');
  if (list.includes('administrator')) return true;
  if (tag === 'policymaker') return list.includes('policymaker');
  return list.includes(tag);
}

function notify(msg, isError) {
  const n = document.getElementById('notice');
  n.textContent = msg;
  n.className = isError ? 'error' : '';
  n.hidden = false;
  n.scrollIntoView({ block: 'nearest' });
}

/* Go to another page and show msg there (a page change clears the notice). */
function goWithNotice(hash, msg) {
  app.flash = msg;
  location.hash = hash;
  return null;
}

function clearNotice() {
  const n = document.getElementById('notice');
  n.hidden = true;
  n.textContent = '';
}

/* Run an action from a button or form: disable it, report the outcome. */
async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    const msg = await fn();
    if (msg) notify(msg, false);
    await refreshNow();
  } catch (e) {
    notify(e.message, true);
  } finally {
    if (button) button.disabled = false;
  }
}

function selectedVhost() {
  return sessionStorage.getItem('warren.vhost') || '';
}

async function loadVhosts() {
  try {
    app.vhosts = (await api('GET', '/vhosts?columns=name')).map(v => v.name).sort();
  } catch (e) {
    app.vhosts = [];
  }
  const sel = document.getElementById('vhost-filter');
  const cur = selectedVhost();
  clear(sel).append(h('option', { value: '' }, 'All'));
  for (const v of app.vhosts) sel.append(h('option', { value: v, selected: v === cur }, v));
  if (cur && !app.vhosts.includes(cur)) sessionStorage.removeItem('warren.vhost');
}

function vhostSelect(name, value) {
  const v = value || selectedVhost() || app.vhosts[0] || '/';
  return h('select', { name }, (app.vhosts.length ? app.vhosts : ['/']).map(x =>
    h('option', { value: x, selected: x === v }, x)));
}

async function showLogin(message) {
  document.getElementById('app-view').hidden = true;
  document.getElementById('login-view').hidden = false;
  const err = document.getElementById('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  document.querySelector('#login input[name=username]').focus();
}

function logout(message) {
  auth.clear();
  app.user = null;
  if (app.page && app.page.dispose) app.page.dispose();
  app.page = null;
  clear(document.getElementById('main'));
  showLogin(message);
}

async function startApp() {
  document.getElementById('login-view').hidden = true;
  document.getElementById('app-view').hidden = false;
  document.getElementById('whoami').textContent = app.user.name;
  for (const a of document.querySelectorAll('#nav a[data-tag]')) a.hidden = !hasTag(a.dataset.tag);
  await loadVhosts();
  try {
    const o = await api('GET', '/overview?columns=cluster_name,rabbitmq_version,erlang_full_version');
    const m = /warren ([^\]\s]+)/.exec(o.erlang_full_version || '');
    document.getElementById('version').textContent =
      `· ${o.cluster_name} · ${m ? 'warren ' + m[1] + ', ' : ''}RabbitMQ ${o.rabbitmq_version} API`;
  } catch (e) { /* the footer is a nicety */ }
  route();
}

async function login(ev) {
  ev.preventDefault();
  const f = ev.target;
  const btn = f.querySelector('button');
  btn.disabled = true;
  auth.set(f.username.value, f.password.value);
  try {
    app.user = await api('GET', '/whoami');
    f.password.value = '';
    await startApp();
  } catch (e) {
    auth.clear();
    app.user = null;
    showLogin(e.status === 401 ? (e.message === 'Login failed' ? 'Login failed' : `Login failed: ${e.message}`) : e.message);
  } finally {
    btn.disabled = false;
  }
}

function setStatus(text, isError) {
  const s = document.getElementById('refresh-status');
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

/*
 * Refresh the current page.  One refresh at a time: a request made while
 * one is in flight (a click on a sort header, say) runs right after it.
 */
async function refreshNow() {
  const p = app.page;
  if (!p || !p.refresh) return;
  if (app.busy) {
    app.again = true;
    return;
  }
  app.busy = true;
  try {
    await p.refresh();
    if (p === app.page) setStatus(`Updated ${new Date().toLocaleTimeString('en-GB')} · every ${REFRESH_MS / 1000} s while this tab is visible`);
  } catch (e) {
    if (p === app.page) setStatus(`Refresh failed at ${new Date().toLocaleTimeString('en-GB')}: ${e.message}`, true);
  } finally {
    if (p === app.page) app.busy = false;
  }
  if (p === app.page && app.again) {
    app.again = false;
    await refreshNow();
  }
}

const pages = {};

function route() {
  if (!app.user) return;
  const hash = location.hash.replace(/^#\/?/, '');
  const parts = hash ? hash.split('/').map(s => { try { return decodeURIComponent(s); } catch (e) { return s; } }) : [];
  const name = parts[0] || 'overview';
  const page = pages[name] || pages.notfound;
  if (app.page && app.page.dispose) app.page.dispose();
  if (app.flash) notify(app.flash, false); else clearNotice();
  app.flash = null;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  const main = clear(document.getElementById('main'));
  app.page = page(main, parts.slice(1)) || {};
  app.busy = app.again = false;
  refreshNow();
}

function startTimer() {
  clearInterval(app.timer);
  app.timer = setInterval(() => { if (!document.hidden) refreshNow(); }, REFRESH_MS);
}

/* ------------------------------------------------------------ widgets */

/*
 * A live line chart on a canvas.  push() adds one sample per series; the
 * last CHART_POINTS samples are kept.  The legend shows current values.
 */
class Chart {
  constructor(title, series, fmt) {
    this.series = series;
    this.fmt = fmt || fmtNum;
    this.points = [];
    this.canvas = h('canvas', { width: 600, height: 170 });
    this.values = series.map(() => h('b', {}, '–'));
    this.el = h('div', { class: 'panel chart' }, h('h3', {}, title), this.canvas,
      h('div', { class: 'legend' }, series.map((s, i) =>
        h('span', {}, h('span', { class: 'sw', style: `background:${s.color}` }), s.label, ' ', this.values[i]))));
  }

  push(vals) {
    this.points.push({ t: Date.now(), v: vals });
    if (this.points.length > CHART_POINTS) this.points.shift();
    this.canvas.dataset.points = this.points.length;
    vals.forEach((v, i) => { this.values[i].textContent = this.fmt(v); });
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, c.clientWidth || 600);
    const hgt = c.clientHeight || 170;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(hgt * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const left = 56, right = 8, top = 8, bottom = 20;
    const pw = w - left - right, ph = hgt - top - bottom;
    let max = 0;
    for (const p of this.points) for (const v of p.v) max = Math.max(max, v || 0);
    max = niceMax(max);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#66717c';
    g.strokeStyle = '#e3e7eb';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
      g.fillText(this.fmt(max * i / 4), left - 6, y);
    }
    /* the time axis grows with what this page has seen, from 1 to 10 minutes */
    const now = this.points.length ? this.points[this.points.length - 1].t : Date.now();
    const seen = this.points.length ? now - this.points[0].t : 0;
    const span = Math.min(CHART_POINTS * REFRESH_MS, Math.max(60000, Math.ceil(seen / 60000) * 60000));
    g.textAlign = 'left';
    g.fillText(`last ${fmtDuration(span)}`, left, hgt - 8);
    g.textAlign = 'right';
    g.fillText('now', left + pw, hgt - 8);
    if (this.points.length === 0) return;
    this.series.forEach((s, i) => {
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      this.points.forEach((p, j) => {
        const x = left + pw - (pw * (now - p.t)) / span;
        const y = top + ph - (ph * (p.v[i] || 0)) / max;
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      if (this.points.length === 1) {
        const y = top + ph - (ph * (this.points[0].v[i] || 0)) / max;
        g.lineTo(left + pw - 3, y);
      }
      g.stroke();
    });
  }
}

function niceMax(m) {
  if (m <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(m)));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= m) return k * p;
  return 10 * p;
}

/*
 * A memory or disk bar: value against the alarm threshold (the red mark).
 * Memory alarms above it, disk below it.
 */
function gauge(label, value, threshold, alarm, text) {
  const scale = Math.max(value, threshold) * 1.15 || 1;
  return h('div', { class: 'gauge' + (alarm ? ' alarm' : '') },
    h('div', { class: 'cap' }, h('span', {}, label, ' ',
      h('span', { class: 'badge ' + (alarm ? 'bad' : 'ok') }, alarm ? 'ALARM' : 'ok')), h('span', {}, text)),
    h('div', { class: 'bar' },
      h('div', { class: 'fill', style: `width:${(100 * value / scale).toFixed(1)}%` }),
      h('div', { class: 'mark', title: 'alarm threshold', style: `left:${(100 * threshold / scale).toFixed(1)}%` })));
}

/*
 * A table.  cols: [{ label, render(row) -> node|text, num, sort: API field }].
 * With onSort, headers with a sort field are clickable.
 */
function table(cols, rows, opts) {
  opts = opts || {};
  const head = h('tr', {}, cols.map(c => {
    const th = h('th', { class: (c.num ? 'num ' : '') + (c.sort && opts.onSort ? 'sortable' : '') }, c.label);
    if (c.sort && opts.onSort) {
      if (opts.sort === c.sort) th.classList.add('sorted');
      if (opts.sort === c.sort && opts.rev) th.classList.add('rev');
      th.addEventListener('click', () => opts.onSort(c.sort));
      th.title = 'Sort by ' + c.label.toLowerCase() + ' (by the broker)';
    }
    return th;
  }));
  const body = h('tbody', {});
  if (!rows.length) body.append(h('tr', {}, h('td', { class: 'empty', colSpan: cols.length }, opts.empty || 'Nothing here.')));
  for (const r of rows) body.append(h('tr', {}, cols.map(c => h('td', { class: c.num ? 'num' : '' }, c.render(r)))));
  return h('table', { class: opts.class || '' }, h('thead', {}, head), body);
}

/*
 * A server-side paginated, filtered and sorted listing of one API
 * collection.  The broker does the work: the page asks for one page of
 * rows with only the columns it shows.
 */
function pagedList(opts) {
  const st = opts.state;
  const wrap = h('div', {});
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', value: st.name, name: 'filter', size: 28 });
  const regex = h('input', { type: 'checkbox', checked: st.regex, name: 'regex' });
  const size = h('select', { name: 'page_size' }, [20, 50, 100, 500].map(n =>
    h('option', { value: n, selected: n === st.pageSize }, n)));
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', onclick: () => { st.page--; refreshNow(); } }, '‹ Prev');
  const next = h('button', { type: 'button', onclick: () => { st.page++; refreshNow(); } }, 'Next ›');
  const pageNo = h('input', { type: 'number', name: 'page', min: 1, value: st.page, size: 5, class: 'page-no', title: 'Go to page' });
  const pageCount = h('span', {});
  pageNo.addEventListener('change', () => { st.page = Math.max(1, Number(pageNo.value) || 1); refreshNow(); });
  const holder = h('div', {});
  let debounce = null;
  filter.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { st.name = filter.value; st.page = 1; refreshNow(); }, 300);
  });
  regex.addEventListener('change', () => { st.regex = regex.checked; st.page = 1; refreshNow(); });
  size.addEventListener('change', () => { st.pageSize = Number(size.value); st.page = 1; refreshNow(); });
  wrap.append(h('div', { class: 'toolbar' }, filter, h('label', {}, regex, ' regex'), h('span', { class: 'grow' }),
    info, h('label', {}, 'Page size ', size), h('span', { class: 'pager' }, prev, 'page ', pageNo, pageCount, next)), holder);

  async function refresh() {
    const vh = selectedVhost();
    const params = {
      page: st.page, page_size: st.pageSize, name: st.name, use_regex: st.regex ? 'true' : 'false',
      pagination: 'true', sort: st.sort, sort_reverse: st.rev ? 'true' : 'false', columns: opts.columns,
    };
    let r;
    try {
      r = await api('GET', `/${opts.path}${vh ? '/' + enc(vh) : ''}${qs(params)}`);
    } catch (e) {
      if (e.status === 400 && st.page > 1 && e.error === 'page_out_of_range') {
        /* past the last page (the list shrank, or a page number typed in) */
        const n = await api('GET', `/${opts.path}${vh ? '/' + enc(vh) : ''}${qs(Object.assign({}, params, { page: 1, columns: 'name' }))}`);
        st.page = Math.max(1, n.page_count);
        return refresh();
      }
      if (e.status === 400) { /* a bad regex, say: show it, keep the old rows */
        info.textContent = st.regex ? `The filter is not a regular expression the broker accepts (${e.message}).` : e.message;
        info.className = 'error';
        return;
      }
      throw e;
    }
    st.page = r.page;
    info.className = 'muted';
    info.textContent = `${fmtNum(r.filtered_count)} of ${fmtNum(r.total_count)} ${opts.noun}` +
      (r.filtered_count !== r.total_count ? ' match' : '');
    if (document.activeElement !== pageNo) pageNo.value = r.page;
    pageNo.max = Math.max(1, r.page_count);
    pageCount.textContent = ` of ${fmtNum(Math.max(1, r.page_count))}`;
    prev.disabled = r.page <= 1;
    next.disabled = r.page >= r.page_count;
    const t = table(opts.cols, r.items, {
      sort: st.sort, rev: st.rev, empty: st.name ? 'Nothing matches the filter.' : `No ${opts.noun}.`,
      onSort: f => { if (st.sort === f) st.rev = !st.rev; else { st.sort = f; st.rev = false; } st.page = 1; refreshNow(); },
      class: opts.noun,
    });
    clear(holder).append(t);
    if (opts.after) opts.after(r.items);
  }
  return { el: wrap, refresh };
}

function field(label, input) {
  return [h('label', {}, label), input];
}

function section(title, open, ...kids) {
  return h('details', { class: 'section', open }, h('summary', {}, title), kids);
}

function linkQueue(vhost, name) {
  return h('a', { href: `#/queues/${enc(vhost)}/${enc(name)}` }, name);
}

function linkExchange(vhost, name) {
  return h('a', { href: `#/exchanges/${enc(vhost)}/${enc(name || 'amq.default')}` }, name || '(AMQP default)');
}

function features(o) {
  const f = [];
  if (o.durable) f.push(h('span', { class: 'badge', title: 'durable' }, 'D'));
  if (o.auto_delete) f.push(h('span', { class: 'badge', title: 'auto-delete' }, 'AD'));
  if (o.exclusive) f.push(h('span', { class: 'badge', title: 'exclusive' }, 'Excl'));
  if (o.internal) f.push(h('span', { class: 'badge', title: 'internal' }, 'I'));
  for (const k of Object.keys(o.arguments || {})) f.push(h('span', { class: 'badge', title: `${k}: ${json(o.arguments[k])}` }, k.replace(/^x-/, '')));
  if (o.policy) f.push(h('span', { class: 'badge warn', title: 'policy' }, o.policy));
  return f.length ? f.reduce((acc, x) => acc.concat(x, ' '), []) : '';
}

function parseJsonField(text, what) {
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new Error(`${what} must be a JSON object (${e.message}).`);
  }
}

/* Arguments typed as lines of key=value; numbers and booleans as such. */
function parseArgs(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i < 1) throw new Error(`Arguments: "${line}" is not key=value.`);
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    out[k] = /^-?\d+$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return out;
}

/* A "publish a message" form; fixed: { vhost, exchange, routing_key? }. */
function publishForm(fixed) {
  const rk = h('input', { name: 'routing_key', value: fixed.routing_key || '', size: 40 });
  const mode = h('select', { name: 'delivery_mode' }, h('option', { value: '1' }, '1 - non-persistent'),
    h('option', { value: '2' }, '2 - persistent'));
  const ctype = h('input', { name: 'content_type', placeholder: 'e.g. application/json', size: 30 });
  const hdrs = h('textarea', { name: 'headers', placeholder: 'one header a line: key=value', rows: 2 });
  const payload = h('textarea', { name: 'payload', rows: 4 });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Publish message');
  const f = h('form', { class: 'stack', id: 'publish-form' },
    fixed.routing_key === undefined ? field('Routing key', rk) : [h('label', {}, 'Routing key'), h('code', {}, fixed.routing_key)],
    field('Delivery mode', mode), field('Content type', ctype), field('Headers', hdrs), field('Payload', payload), btn,
    h('p', { class: 'hint full' }, fixed.exchange === '' ?
      'Published through the default exchange with the queue\'s name as routing key (POST /api/exchanges/…/amq.default/publish).' :
      'Published with POST /api/exchanges/…/publish; the broker says whether any queue got it.'));
  f.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      const props = { delivery_mode: Number(mode.value), headers: parseArgs(hdrs.value) };
      if (ctype.value) props.content_type = ctype.value;
      const key = fixed.routing_key === undefined ? rk.value : fixed.routing_key;
      const r = await api('POST', `/exchanges/${enc(fixed.vhost)}/${enc(fixed.exchange || 'amq.default')}/publish`,
        { properties: props, routing_key: key, payload: payload.value, payload_encoding: 'string' });
      return r.routed ? 'Message published.' : 'Message published, but not routed to any queue.';
    });
  });
  return f;
}

/* ------------------------------------------------------------ overview */

pages.overview = function (main) {
  const cards = h('div', { class: 'cards' });
  const qchart = new Chart('Queued messages', [
    { label: 'Ready', color: '#d4a72c' }, { label: 'Unacked', color: '#4a90d9' }, { label: 'Total', color: '#646f7a' }]);
  const rchart = new Chart('Message rates', [
    { label: 'Publish', color: '#c2571a' }, { label: 'Deliver', color: '#2a7a3b' },
    { label: 'Ack', color: '#4a90d9' }, { label: 'Redeliver', color: '#a34ec2' }], fmtRate);
  const node = h('div', { class: 'panel' });
  const listeners = h('div', {});
  put(main, h('h1', {}, 'Overview'), cards, h('div', { class: 'grid2' }, qchart.el, rchart.el), h('h2', {}, 'Node'), node,
    h('p', { class: 'hint' }, 'Rates are the broker\'s own (sampled every 5 s); the charts keep what this page has seen since it was opened.'),
    listeners);
  const onResize = () => { qchart.draw(); rchart.draw(); };
  window.addEventListener('resize', onResize);

  return {
    dispose() { window.removeEventListener('resize', onResize); },
    async refresh() {
      const [o, nodes] = await Promise.all([api('GET', '/overview'), api('GET', '/nodes').catch(() => [])]);
      const t = o.object_totals || {};
      clear(cards).append(...[['connections', 'Connections', '#/connections'], ['channels', 'Channels', '#/channels'],
        ['exchanges', 'Exchanges', '#/exchanges'], ['queues', 'Queues', '#/queues'], ['consumers', 'Consumers']].map(([k, l, href]) =>
        h('div', { class: 'card', id: 'total-' + k }, h('div', { class: 'n' }, fmtNum(t[k])),
          h('div', { class: 'l' }, href ? h('a', { href }, l) : l))));
      const qt = o.queue_totals || {};
      qchart.push([qt.messages_ready || 0, qt.messages_unacknowledged || 0, qt.messages || 0]);
      const ms = o.message_stats || {};
      rchart.push([rate(ms, 'publish'), rate(ms, 'deliver_get'), rate(ms, 'ack'), rate(ms, 'redeliver')]);
      clear(node);
      for (const n of nodes) {
        node.append(h('h3', {}, n.name, ' · up ', fmtDuration(n.uptime || 0)),
          gauge('Memory', n.mem_used, n.mem_limit, n.mem_alarm, `${fmtBytes(n.mem_used)} used · alarm at ${fmtBytes(n.mem_limit)}`),
          gauge('Disk free', n.disk_free, n.disk_free_limit, n.disk_free_alarm,
            `${fmtBytes(n.disk_free)} free · alarm under ${fmtBytes(n.disk_free_limit)}`),
          h('div', { class: 'muted' }, `File descriptors ${fmtNum(n.fd_used)} / ${fmtNum(n.fd_total)} · sockets ${fmtNum(n.sockets_used)}`));
      }
      if (!nodes.length) node.append(h('p', { class: 'muted' }, 'This user may not see node details (monitoring tag needed).'));
      clear(listeners).append(h('h2', {}, 'Ports'), table([
        { label: 'Protocol', render: l => l.protocol }, { label: 'Bound to', render: l => l.ip_address },
        { label: 'Port', render: l => l.port, num: true }], o.listeners || []));
    },
  };
};

/* ------------------------------------------------------------ connections and channels */

const connState = { page: 1, pageSize: 50, name: '', regex: false, sort: 'name', rev: false };
const chanState = { page: 1, pageSize: 50, name: '', regex: false, sort: 'name', rev: false };

async function closeConnection(name, btn, then) {
  if (!confirm(`Close connection ${name}?`)) return;
  await act(btn, async () => {
    await api('DELETE', `/connections/${enc(name)}`, undefined, { 'x-reason': 'Closed from the warren console' });
    return then ? goWithNotice(then, `Connection ${name} closed.`) : `Connection ${name} closed.`;
  });
}

pages.connections = function (main, args) {
  if (args.length) return pages.connection(main, args);
  const list = pagedList({
    state: connState, path: 'connections', noun: 'connections',
    columns: 'name,user,vhost,state,protocol,channels,ssl,client_properties,recv_oct_details,send_oct_details,connected_at,peer_host',
    cols: [
      { label: 'Name', sort: 'name', render: c => h('a', { href: `#/connections/${enc(c.name)}` }, c.name) },
      { label: 'User', sort: 'user', render: c => c.user },
      { label: 'Virtual host', sort: 'vhost', render: c => c.vhost },
      { label: 'State', sort: 'state', render: c => h('span', { class: 'badge ' + (c.state === 'running' ? 'ok' : 'warn') }, c.state) },
      { label: 'Client', render: c => { const p = c.client_properties || {}; return [p.product, p.version].filter(Boolean).join(' '); } },
      { label: 'Protocol', render: c => c.protocol + (c.ssl ? ' TLS' : '') },
      { label: 'Channels', sort: 'channels', num: true, render: c => fmtNum(c.channels) },
      { label: 'From client', num: true, render: c => fmtBytes(rate(c, 'recv_oct')) + '/s' },
      { label: 'To client', num: true, render: c => fmtBytes(rate(c, 'send_oct')) + '/s' },
      { label: '', render: c => h('button', { type: 'button', class: 'danger', onclick: ev => closeConnection(c.name, ev.target) }, 'Close') },
    ],
  });
  put(main, h('h1', {}, 'Connections'), list.el);
  return { refresh: list.refresh };
};

pages.connection = function (main, args) {
  const name = args[0];
  const info = h('div', {});
  const chans = h('div', {});
  put(main, h('div', { class: 'title-row' }, h('h1', {}, 'Connection ', h('code', {}, name)),
    h('button', { type: 'button', class: 'danger', onclick: ev => closeConnection(name, ev.target, '#/connections') }, 'Close this connection')),
  info, h('h2', {}, 'Channels'), chans);
  return {
    async refresh() {
      let c;
      try { c = await api('GET', `/connections/${enc(name)}`); } catch (e) {
        if (e.status === 404) { clear(info).append(h('p', { class: 'muted' }, 'This connection is closed.')); clear(chans); return; }
        throw e;
      }
      const p = c.client_properties || {};
      clear(info).append(h('dl', { class: 'kv panel' }, [
        ['User', c.user], ['Virtual host', c.vhost], ['State', c.state], ['Protocol', c.protocol],
        ['Client', [p.product, p.version, p.platform].filter(Boolean).join(' · ')],
        ['Connection name', p.connection_name], ['Peer', `${c.peer_host}:${c.peer_port}`],
        ['Heartbeat', `${c.timeout} s`], ['Frame max', fmtNum(c.frame_max)], ['Channel max', fmtNum(c.channel_max)],
        ['Received', `${fmtBytes(c.recv_oct)} (${fmtBytes(rate(c, 'recv_oct'))}/s)`],
        ['Sent', `${fmtBytes(c.send_oct)} (${fmtBytes(rate(c, 'send_oct'))}/s)`],
        ['Connected at', c.connected_at ? new Date(c.connected_at).toLocaleString('en-GB') : '–'],
      ].map(([k, v]) => v === undefined ? [] : [h('dt', {}, k), h('dd', {}, v === undefined || v === null ? '–' : String(v))])));
      const ch = await api('GET', `/connections/${enc(name)}/channels`);
      clear(chans).append(channelTable(ch, false));
    },
  };
};

function channelCols(withClose) {
  return [
    { label: 'Channel', sort: 'name', render: c => c.name },
    { label: 'User', sort: 'user', render: c => c.user },
    { label: 'Virtual host', sort: 'vhost', render: c => c.vhost },
    { label: 'Mode', render: c => [c.confirm ? 'confirm' : '', c.transactional ? 'tx' : ''].filter(Boolean).join(' ') },
    { label: 'Prefetch', num: true, render: c => fmtNum(c.prefetch_count) },
    { label: 'Unacked', sort: 'messages_unacknowledged', num: true, render: c => fmtNum(c.messages_unacknowledged) },
    { label: 'Consumers', sort: 'consumer_count', num: true, render: c => fmtNum(c.consumer_count) },
    { label: 'Publish', num: true, render: c => fmtRate(rate(c.message_stats, 'publish')) },
    { label: 'Deliver', num: true, render: c => fmtRate(rate(c.message_stats, 'deliver_get')) },
    { label: 'Ack', num: true, render: c => fmtRate(rate(c.message_stats, 'ack')) },
  ].concat(withClose ? [{
    label: '', render: c => {
      const conn = c.connection_details && c.connection_details.name;
      return conn ? h('button', { type: 'button', class: 'danger', title: `Closes ${conn} and all its channels`, onclick: ev => closeConnection(conn, ev.target) }, 'Close connection') : '';
    },
  }] : []);
}

function channelTable(rows, withClose) {
  return table(channelCols(withClose), rows, { empty: 'No channels.' });
}

pages.channels = function (main) {
  const list = pagedList({
    state: chanState, path: 'channels', noun: 'channels',
    columns: 'name,user,vhost,confirm,transactional,prefetch_count,messages_unacknowledged,consumer_count,message_stats,connection_details',
    cols: channelCols(true),
  });
  put(main, h('h1', {}, 'Channels'), list.el,
    h('p', { class: 'hint' }, 'The HTTP API cannot close a single channel (neither can RabbitMQ\'s); "Close connection" closes the connection the channel belongs to, with all its channels.'));
  return { refresh: list.refresh };
};

/* ------------------------------------------------------------ exchanges */

const exState = { page: 1, pageSize: 50, name: '', regex: false, sort: 'name', rev: false };

pages.exchanges = function (main, args) {
  if (args.length >= 2) return pages.exchange(main, args);
  const list = pagedList({
    state: exState, path: 'exchanges', noun: 'exchanges',
    columns: 'name,vhost,type,durable,auto_delete,internal,arguments,policy,message_stats',
    cols: [
      { label: 'Virtual host', sort: 'vhost', render: x => x.vhost },
      { label: 'Name', sort: 'name', render: x => linkExchange(x.vhost, x.name) },
      { label: 'Type', sort: 'type', render: x => x.type },
      { label: 'Features', render: x => features(x) },
      { label: 'Rate in', num: true, render: x => fmtRate(x.message_stats ? rate(x.message_stats, 'publish_in') : undefined) },
      { label: 'Rate out', num: true, render: x => fmtRate(x.message_stats ? rate(x.message_stats, 'publish_out') : undefined) },
    ],
  });
  const name = h('input', { name: 'name', required: true, size: 40 });
  const type = h('select', { name: 'type' }, ['direct', 'fanout', 'topic', 'headers'].map(t => h('option', { value: t }, t)));
  const durable = h('select', { name: 'durable' }, h('option', { value: 'true' }, 'Durable'), h('option', { value: 'false' }, 'Transient'));
  const autoDel = h('select', { name: 'auto_delete' }, h('option', { value: 'false' }, 'No'), h('option', { value: 'true' }, 'Yes'));
  const internal = h('select', { name: 'internal' }, h('option', { value: 'false' }, 'No'), h('option', { value: 'true' }, 'Yes'));
  const xargs = h('textarea', { name: 'arguments', rows: 2, placeholder: 'alternate-exchange=my-ae' });
  const vh = vhostSelect('vhost');
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Add exchange');
  const form = h('form', { class: 'stack', id: 'add-exchange' }, field('Virtual host', vh), field('Name', name), field('Type', type),
    field('Durability', durable), field('Auto delete', autoDel), field('Internal', internal), field('Arguments', xargs), btn);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      await api('PUT', `/exchanges/${enc(vh.value)}/${enc(name.value)}`, {
        type: type.value, durable: durable.value === 'true', auto_delete: autoDel.value === 'true',
        internal: internal.value === 'true', arguments: parseArgs(xargs.value),
      });
      const n = name.value;
      name.value = '';
      return `Exchange ${n} declared.`;
    });
  });
  put(main, h('h1', {}, 'Exchanges'), list.el, section('Add an exchange', false, form));
  return { refresh: list.refresh };
};

function bindingArgs(b) {
  return argsText(b.arguments);
}

async function unbind(b, btn) {
  const kind = b.destination_type === 'queue' ? 'q' : 'e';
  await act(btn, async () => {
    await api('DELETE', `/bindings/${enc(b.vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`);
    return 'Binding removed.';
  });
}

/* Add a binding; fixed: { vhost, source } or { vhost, destination, destination_type }. */
function bindForm(fixed) {
  const other = h('input', { name: 'other', required: true, size: 32 });
  const kind = h('select', { name: 'kind' }, h('option', { value: 'q' }, 'To queue'), h('option', { value: 'e' }, 'To exchange'));
  const rk = h('input', { name: 'routing_key', size: 32 });
  const bargs = h('textarea', { name: 'arguments', rows: 2, placeholder: 'key=value, one a line' });
  const btn = h('button', { type: 'submit' }, 'Bind');
  const f = h('form', { class: 'stack', id: 'bind-form' },
    fixed.source !== undefined ? [kind, other] : field('From exchange', other),
    field('Routing key', rk), field('Arguments', bargs), btn);
  f.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      const body = { routing_key: rk.value, arguments: parseArgs(bargs.value) };
      const path = fixed.source !== undefined ?
        `/bindings/${enc(fixed.vhost)}/e/${enc(fixed.source)}/${kind.value}/${enc(other.value)}` :
        `/bindings/${enc(fixed.vhost)}/e/${enc(other.value)}/${fixed.destination_type === 'queue' ? 'q' : 'e'}/${enc(fixed.destination)}`;
      await api('POST', path, body);
      other.value = '';
      return 'Binding added.';
    });
  });
  return f;
}

pages.exchange = function (main, args) {
  const [vhost, xname] = args;
  const name = xname === 'amq.default' ? '' : xname;
  const info = h('div', {});
  const src = h('div', {});
  const dst = h('div', {});
  const chart = new Chart('Message rates', [{ label: 'In', color: '#c2571a' }, { label: 'Out', color: '#2a7a3b' }], fmtRate);
  const noRates = h('p', { class: 'hint', hidden: true }, 'This broker does not report per-exchange message rates; see the queues bound to it.');
  chart.el.hidden = true;
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete this exchange');
  del.addEventListener('click', () => {
    if (!confirm(`Delete exchange ${xname}?`)) return;
    act(del, async () => {
      await api('DELETE', `/exchanges/${enc(vhost)}/${enc(xname)}`);
      return goWithNotice('#/exchanges', `Exchange ${xname} deleted.`);
    });
  });
  put(main, h('div', { class: 'title-row' }, h('h1', {}, 'Exchange ', h('code', {}, name || '(AMQP default)')),
    h('span', { class: 'muted' }, 'in virtual host ', vhost)), info, chart.el, noRates,
  h('h2', {}, 'Bindings from this exchange'), src,
  name ? section('Add a binding from this exchange', false, bindForm({ vhost, source: name })) : '',
  name ? [h('h2', {}, 'Bindings to this exchange'), dst] : '',
  section('Publish a message', true, publishForm({ vhost, exchange: name })),
  name.startsWith('amq.') || !name ? '' : section('Delete', false, del));
  return {
    async refresh() {
      const x = await api('GET', `/exchanges/${enc(vhost)}/${enc(xname)}`);
      clear(info).append(h('dl', { class: 'kv panel' }, [['Type', x.type], ['Features', features(x)],
        ['Policy', x.policy || '–']].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
      chart.el.hidden = !x.message_stats;
      noRates.hidden = !!x.message_stats;
      if (x.message_stats) chart.push([rate(x.message_stats, 'publish_in'), rate(x.message_stats, 'publish_out')]);
      const s = name ? await api('GET', `/exchanges/${enc(vhost)}/${enc(xname)}/bindings/source`) : [];
      clear(src).append(table([
        { label: 'To', render: b => b.destination_type === 'queue' ? linkQueue(b.vhost, b.destination) : linkExchange(b.vhost, b.destination) },
        { label: 'Kind', render: b => b.destination_type },
        { label: 'Routing key', render: b => h('code', {}, b.routing_key) },
        { label: 'Arguments', render: bindingArgs },
        { label: '', render: b => h('button', { type: 'button', onclick: ev => unbind(b, ev.target) }, 'Unbind') },
      ], s, { empty: name ? 'No bindings.' : 'The default exchange is bound to every queue by its name.' }));
      if (name) {
        const d = await api('GET', `/exchanges/${enc(vhost)}/${enc(xname)}/bindings/destination`);
        clear(dst).append(table([
          { label: 'From', render: b => linkExchange(b.vhost, b.source) },
          { label: 'Routing key', render: b => h('code', {}, b.routing_key) },
          { label: 'Arguments', render: bindingArgs },
          { label: '', render: b => h('button', { type: 'button', onclick: ev => unbind(b, ev.target) }, 'Unbind') },
        ], d, { empty: 'No bindings.' }));
      }
    },
  };
};

/* ------------------------------------------------------------ queues */

const qState = { page: 1, pageSize: 50, name: '', regex: false, sort: 'name', rev: false };

pages.queues = function (main, args) {
  if (args.length >= 2) return pages.queue(main, args);
  const list = pagedList({
    state: qState, path: 'queues', noun: 'queues',
    columns: 'name,vhost,type,durable,auto_delete,exclusive,arguments,policy,state,consumers,messages_ready,messages_unacknowledged,messages,message_stats.publish_details.rate,message_stats.deliver_get_details.rate,message_stats.ack_details.rate',
    cols: [
      { label: 'Virtual host', sort: 'vhost', render: q => q.vhost },
      { label: 'Name', sort: 'name', render: q => linkQueue(q.vhost, q.name) },
      { label: 'Type', render: q => q.type },
      { label: 'Features', render: q => features(q) },
      { label: 'State', sort: 'state', render: q => h('span', { class: 'badge ' + (q.state === 'running' ? 'ok' : 'warn') }, q.state) },
      { label: 'Consumers', sort: 'consumers', num: true, render: q => fmtNum(q.consumers) },
      { label: 'Ready', sort: 'messages_ready', num: true, render: q => fmtNum(q.messages_ready) },
      { label: 'Unacked', sort: 'messages_unacknowledged', num: true, render: q => fmtNum(q.messages_unacknowledged) },
      { label: 'Total', sort: 'messages', num: true, render: q => fmtNum(q.messages) },
      { label: 'Incoming', num: true, render: q => fmtRate(get(q, 'message_stats.publish_details.rate') || 0) },
      { label: 'Deliver / get', num: true, render: q => fmtRate(get(q, 'message_stats.deliver_get_details.rate') || 0) },
      { label: 'Ack', num: true, render: q => fmtRate(get(q, 'message_stats.ack_details.rate') || 0) },
    ],
  });
  const name = h('input', { name: 'name', required: true, size: 40 });
  const durable = h('select', { name: 'durable' }, h('option', { value: 'true' }, 'Durable'), h('option', { value: 'false' }, 'Transient'));
  const autoDel = h('select', { name: 'auto_delete' }, h('option', { value: 'false' }, 'No'), h('option', { value: 'true' }, 'Yes'));
  const qargs = h('textarea', { name: 'arguments', rows: 3, placeholder: 'x-message-ttl=60000\nx-max-length=1000\nx-dead-letter-exchange=dlx' });
  const vh = vhostSelect('vhost');
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Add queue');
  const form = h('form', { class: 'stack', id: 'add-queue' }, field('Virtual host', vh), field('Name', name),
    field('Durability', durable), field('Auto delete', autoDel), field('Arguments', qargs), btn);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      await api('PUT', `/queues/${enc(vh.value)}/${enc(name.value)}`,
        { durable: durable.value === 'true', auto_delete: autoDel.value === 'true', arguments: parseArgs(qargs.value) });
      const n = name.value;
      name.value = '';
      return `Queue ${n} declared.`;
    });
  });
  put(main, h('h1', {}, 'Queues'), list.el,
    h('p', { class: 'hint' }, 'Filtering, sorting and paging are done by the broker; the page only holds the rows it shows.'),
    section('Add a queue', false, form));
  return { refresh: list.refresh };
};

pages.queue = function (main, args) {
  const [vhost, name] = args;
  const base = `/queues/${enc(vhost)}/${enc(name)}`;
  const info = h('div', {});
  const consumers = h('div', {});
  const bindings = h('div', {});
  const lchart = new Chart('Queued messages', [{ label: 'Ready', color: '#d4a72c' }, { label: 'Unacked', color: '#4a90d9' }]);
  const rchart = new Chart('Message rates', [{ label: 'Publish', color: '#c2571a' }, { label: 'Deliver / get', color: '#2a7a3b' },
    { label: 'Ack', color: '#4a90d9' }, { label: 'Redeliver', color: '#a34ec2' }], fmtRate);
  let gone = false;

  /* get messages */
  const count = h('input', { name: 'count', type: 'number', min: 1, value: 1, size: 5 });
  const ackmode = h('select', { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack message requeue true'),
    h('option', { value: 'ack_requeue_false' }, 'Automatic ack (removes them)'),
    h('option', { value: 'reject_requeue_true' }, 'Reject requeue true'),
    h('option', { value: 'reject_requeue_false' }, 'Reject requeue false'));
  const encoding = h('select', { name: 'encoding' }, h('option', { value: 'auto' }, 'Auto string / base64'), h('option', { value: 'base64' }, 'base64'));
  const got = h('div', { id: 'got-messages' });
  const getBtn = h('button', { type: 'submit', class: 'primary' }, 'Get messages');
  const getForm = h('form', { class: 'stack', id: 'get-form' }, field('Ack mode', ackmode), field('Encoding', encoding),
    field('Messages', count), getBtn,
    h('p', { class: 'hint full' }, 'Getting messages is a destructive action when the mode removes them; "requeue true" puts them back (marked redelivered).'));
  getForm.addEventListener('submit', ev => {
    ev.preventDefault();
    act(getBtn, async () => {
      const msgs = await api('POST', `${base}/get`, { count: Number(count.value) || 1, ackmode: ackmode.value, encoding: encoding.value, truncate: 50000 });
      clear(got);
      if (!msgs.length) { got.append(h('p', { class: 'muted' }, 'Queue is empty.')); return null; }
      msgs.forEach((m, i) => got.append(h('div', { class: 'msg' }, h('h3', {}, `Message ${i + 1}`),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Exchange'), h('dd', {}, m.exchange || '(AMQP default)'),
          h('dt', {}, 'Routing key'), h('dd', {}, h('code', {}, m.routing_key)),
          h('dt', {}, 'Redelivered'), h('dd', {}, String(m.redelivered)),
          h('dt', {}, 'Messages left'), h('dd', {}, fmtNum(m.message_count)),
          h('dt', {}, 'Properties'), h('dd', {}, Array.isArray(m.properties) || !m.properties ? h('span', { class: 'muted' }, 'none') :
            h('code', {}, json(m.properties))),
          h('dt', {}, 'Payload'), h('dd', {}, h('span', { class: 'muted' }, `${fmtNum(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`),
            h('pre', { class: 'payload' }, m.payload))))));
      return null;
    });
  });

  /* move messages */
  const dest = h('input', { name: 'destination', required: true, size: 32 });
  const moveCount = h('input', { name: 'move_count', type: 'number', min: 1, placeholder: 'all', size: 7 });
  const moveBtn = h('button', { type: 'submit' }, 'Move messages');
  const moveForm = h('form', { class: 'stack', id: 'move-form' }, field('To queue', dest), field('How many', moveCount), moveBtn,
    h('p', { class: 'hint full' }, 'warren has no shovel plugin, so the console moves messages itself through the public API: ',
      'it takes one message at a time with POST …/get (ackmode ack_requeue_false, so it leaves this queue) and publishes it ',
      'with its properties and bytes to the destination queue through the default exchange. The original exchange, routing key ',
      'and redelivered flag are not kept. If publishing fails the message is put back at the end of this queue and moving stops; ',
      'if this page is closed in the middle, at most the one message in flight can be lost.'));
  moveForm.addEventListener('submit', ev => {
    ev.preventDefault();
    act(moveBtn, async () => {
      const to = dest.value;
      if (to === name) throw new Error('The destination is this queue.');
      await api('GET', `/queues/${enc(vhost)}/${enc(to)}?columns=name`).catch(e => {
        throw new Error(e.status === 404 ? `No queue ${to} in virtual host ${vhost}.` : e.message);
      });
      const limit = moveCount.value ? Number(moveCount.value) : Infinity;
      let moved = 0;
      while (moved < limit) {
        const msgs = await api('POST', `${base}/get`, { count: 1, ackmode: 'ack_requeue_false', encoding: 'base64' });
        if (!msgs.length) break;
        const m = msgs[0];
        /* RabbitMQ's API (and warren's) gives [] for no properties */
        const props = m.properties && !Array.isArray(m.properties) ? m.properties : {};
        const body = { properties: props, routing_key: to, payload: m.payload, payload_encoding: 'base64' };
        let ok = false;
        try { ok = (await api('POST', `/exchanges/${enc(vhost)}/amq.default/publish`, body)).routed; } catch (e) { ok = false; }
        if (!ok) {
          await api('POST', `/exchanges/${enc(vhost)}/amq.default/publish`, Object.assign({}, body, { routing_key: name }));
          throw new Error(`Moved ${moved} message(s); the next could not be published to ${to} and was put back.`);
        }
        moved++;
        if (moved % 50 === 0) moveBtn.textContent = `Moved ${moved}…`;
      }
      moveBtn.textContent = 'Move messages';
      return `Moved ${moved} message(s) to ${to}.`;
    });
  });

  const purge = h('button', { type: 'button', class: 'danger', id: 'purge' }, 'Purge messages');
  purge.addEventListener('click', () => {
    if (!confirm(`Purge all ready messages of queue ${name}?`)) return;
    act(purge, async () => {
      await api('DELETE', `${base}/contents`);
      return `Queue ${name} purged.`;
    });
  });
  const ifEmpty = h('input', { type: 'checkbox', name: 'if_empty' });
  const ifUnused = h('input', { type: 'checkbox', name: 'if_unused' });
  const del = h('button', { type: 'button', class: 'danger', id: 'delete-queue' }, 'Delete queue');
  del.addEventListener('click', () => {
    if (!confirm(`Delete queue ${name}?`)) return;
    act(del, async () => {
      await api('DELETE', base + qs({ 'if-empty': ifEmpty.checked ? 'true' : '', 'if-unused': ifUnused.checked ? 'true' : '' }));
      gone = true;
      return goWithNotice('#/queues', `Queue ${name} deleted.`);
    });
  });

  put(main, h('div', { class: 'title-row' }, h('h1', {}, 'Queue ', h('code', { id: 'queue-name' }, name)),
    h('span', { class: 'muted' }, 'in virtual host ', vhost)),
  info, h('div', { class: 'grid2' }, lchart.el, rchart.el),
  h('h2', {}, 'Consumers'), consumers,
  h('h2', {}, 'Bindings'), bindings,
  section('Add a binding to this queue', false, bindForm({ vhost, destination: name, destination_type: 'queue' })),
  section('Publish a message', false, publishForm({ vhost, exchange: '', routing_key: name })),
  section('Get messages', false, getForm, got),
  section('Move messages', false, moveForm),
  section('Delete or purge', false, h('div', { class: 'actions' }, purge, del,
    h('label', {}, ifEmpty, ' only if empty'), h('label', {}, ifUnused, ' only if unused'))));

  return {
    async refresh() {
      if (gone) return;
      let q;
      try { q = await api('GET', base); } catch (e) {
        if (e.status === 404) { clear(info).append(h('p', { class: 'error' }, `No queue ${name} in virtual host ${vhost}.`)); return; }
        throw e;
      }
      clear(info).append(h('div', { class: 'cards' },
        [['messages', 'Total'], ['messages_ready', 'Ready'], ['messages_unacknowledged', 'Unacked'], ['consumers', 'Consumers']].map(([k, l]) =>
          h('div', { class: 'card', id: 'q-' + k }, h('div', { class: 'n' }, fmtNum(q[k])), h('div', { class: 'l' }, l)))),
      h('dl', { class: 'kv panel' }, [
        ['Type', q.type], ['State', q.state], ['Features', features(q)], ['Policy', q.policy || '–'],
        ['Effective policy definition', argsText(q.effective_policy_definition) || '–'],
        ['Exclusive owner', q.owner_pid_details ? q.owner_pid_details.name : '–'],
        ['Message bytes', fmtBytes(q.message_bytes)], ['Memory', fmtBytes(q.memory)],
        ['Consumer utilisation', q.consumer_utilisation === undefined || q.consumer_utilisation === null ? '–' : (100 * q.consumer_utilisation).toFixed(0) + '%'],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
      lchart.push([q.messages_ready || 0, q.messages_unacknowledged || 0]);
      const ms = q.message_stats || {};
      rchart.push([rate(ms, 'publish'), rate(ms, 'deliver_get'), rate(ms, 'ack'), rate(ms, 'redeliver')]);
      clear(consumers).append(table([
        { label: 'Channel', render: c => c.channel_details ? c.channel_details.name : '' },
        { label: 'Consumer tag', render: c => h('code', {}, c.consumer_tag) },
        { label: 'Ack required', render: c => c.ack_required ? 'yes' : 'no' },
        { label: 'Exclusive', render: c => c.exclusive ? 'yes' : 'no' },
        { label: 'Prefetch', num: true, render: c => fmtNum(c.prefetch_count) },
        { label: 'Active', render: c => c.active ? 'yes' : 'waiting' },
        { label: 'Arguments', render: c => argsText(c.arguments) },
      ], q.consumer_details || [], { empty: 'No consumers.' }));
      const bs = await api('GET', `${base}/bindings`);
      clear(bindings).append(table([
        { label: 'From', render: b => linkExchange(b.vhost, b.source) },
        { label: 'Routing key', render: b => h('code', {}, b.routing_key) },
        { label: 'Arguments', render: bindingArgs },
        { label: '', render: b => b.source === '' ? h('span', { class: 'muted' }, 'default binding') :
          h('button', { type: 'button', onclick: ev => unbind(b, ev.target) }, 'Unbind') },
      ], bs, { empty: 'No bindings.' }));
    },
  };
};

/* ------------------------------------------------------------ admin */

pages.users = function (main) {
  const holder = h('div', {});
  const uname = h('input', { name: 'username', required: true, size: 24, autocomplete: 'off' });
  const pass = h('input', { name: 'password', type: 'password', size: 24, autocomplete: 'new-password' });
  const tags = h('input', { name: 'tags', size: 40, placeholder: 'administrator, monitoring, policymaker, management' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Add / update user');
  const form = h('form', { class: 'stack', id: 'add-user' }, field('Username', uname), field('Password', pass),
    field('Tags', tags), btn, h('p', { class: 'hint full' }, 'An empty password makes a user who can only log in by other means (none, in warren).'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      const body = { tags: tags.value };
      if (pass.value) body.password = pass.value; else body.password_hash = '';
      await api('PUT', `/users/${enc(uname.value)}`, body);
      const n = uname.value;
      uname.value = pass.value = '';
      return `User ${n} saved.`;
    });
  });
  put(main, h('h1', {}, 'Users'), holder, section('Add or update a user', false, form));
  return {
    async refresh() {
      const users = await api('GET', '/users');
      users.sort((a, b) => a.name.localeCompare(b.name));
      clear(holder).append(table([
        { label: 'Name', render: u => u.name },
        { label: 'Tags', render: u => (Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',')).filter(Boolean).map(t => [h('span', { class: 'badge' }, t), ' ']) },
        { label: 'Can log in with password', render: u => u.password_hash ? 'yes' : 'no' },
        { label: '', render: u => u.name === app.user.name ? h('span', { class: 'muted' }, 'you') : h('button', {
          type: 'button', class: 'danger', onclick: ev => {
            if (!confirm(`Delete user ${u.name}?`)) return;
            act(ev.target, async () => { await api('DELETE', `/users/${enc(u.name)}`); return `User ${u.name} deleted.`; });
          },
        }, 'Delete') },
      ], users, { empty: 'No users.' }));
    },
  };
};

pages.vhosts = function (main) {
  const holder = h('div', {});
  const name = h('input', { name: 'name', required: true, size: 30 });
  const desc = h('input', { name: 'description', size: 40 });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Add virtual host');
  const form = h('form', { class: 'stack', id: 'add-vhost' }, field('Name', name), field('Description', desc), btn);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      await api('PUT', `/vhosts/${enc(name.value)}`, { description: desc.value });
      const n = name.value;
      name.value = desc.value = '';
      await loadVhosts();
      return `Virtual host ${n} added.`;
    });
  });
  put(main, h('h1', {}, 'Virtual hosts'), holder, section('Add a virtual host', false, form));
  return {
    async refresh() {
      const vs = await api('GET', '/vhosts');
      clear(holder).append(table([
        { label: 'Name', render: v => v.name },
        { label: 'Description', render: v => v.description || '' },
        { label: 'Ready', num: true, render: v => fmtNum(v.messages_ready || 0) },
        { label: 'Unacked', num: true, render: v => fmtNum(v.messages_unacknowledged || 0) },
        { label: 'Total', num: true, render: v => fmtNum(v.messages || 0) },
        { label: 'Publish', num: true, render: v => fmtRate(rate(v.message_stats, 'publish')) },
        { label: 'Deliver / get', num: true, render: v => fmtRate(rate(v.message_stats, 'deliver_get')) },
        { label: '', render: v => h('button', {
          type: 'button', class: 'danger', onclick: ev => {
            if (!confirm(`Delete virtual host ${v.name} and everything in it?`)) return;
            act(ev.target, async () => { await api('DELETE', `/vhosts/${enc(v.name)}`); await loadVhosts(); return `Virtual host ${v.name} deleted.`; });
          },
        }, 'Delete') },
      ], vs, { empty: 'No virtual hosts.' }));
    },
  };
};

pages.permissions = function (main) {
  const holder = h('div', {});
  const user = h('input', { name: 'user', required: true, size: 24, list: 'user-names' });
  const names = h('datalist', { id: 'user-names' });
  const vh = vhostSelect('vhost');
  const conf = h('input', { name: 'configure', value: '.*', size: 24 });
  const write = h('input', { name: 'write', value: '.*', size: 24 });
  const read = h('input', { name: 'read', value: '.*', size: 24 });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Set permission');
  const form = h('form', { class: 'stack', id: 'set-permission' }, field('User', user), field('Virtual host', vh),
    field('Configure regexp', conf), field('Write regexp', write), field('Read regexp', read), btn, names);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      await api('PUT', `/permissions/${enc(vh.value)}/${enc(user.value)}`, { configure: conf.value, write: write.value, read: read.value });
      return `Permissions of ${user.value} in ${vh.value} set.`;
    });
  });
  put(main, h('h1', {}, 'Permissions'), holder, section('Set a permission', true, form));
  return {
    async refresh() {
      const [ps, users] = await Promise.all([api('GET', '/permissions'), api('GET', '/users?columns=name')]);
      clear(names).append(users.map(u => h('option', { value: u.name })));
      ps.sort((a, b) => a.user.localeCompare(b.user) || a.vhost.localeCompare(b.vhost));
      clear(holder).append(table([
        { label: 'User', render: p => p.user }, { label: 'Virtual host', render: p => p.vhost },
        { label: 'Configure', render: p => h('code', {}, p.configure) }, { label: 'Write', render: p => h('code', {}, p.write) },
        { label: 'Read', render: p => h('code', {}, p.read) },
        { label: '', render: p => h('button', {
          type: 'button', class: 'danger', onclick: ev => act(ev.target, async () => {
            await api('DELETE', `/permissions/${enc(p.vhost)}/${enc(p.user)}`);
            return `Permissions of ${p.user} in ${p.vhost} cleared.`;
          }),
        }, 'Clear') },
      ], ps, { empty: 'No permissions.' }));
    },
  };
};

pages.policies = function (main) {
  const holder = h('div', {});
  const vh = vhostSelect('vhost');
  const name = h('input', { name: 'name', required: true, size: 30 });
  const pattern = h('input', { name: 'pattern', required: true, size: 30, placeholder: '^amq\\.' });
  const applyTo = h('select', { name: 'apply-to' }, ['all', 'queues', 'exchanges'].map(x => h('option', { value: x }, x)));
  const prio = h('input', { name: 'priority', type: 'number', value: 0, size: 5 });
  const def = h('textarea', { name: 'definition', rows: 4, placeholder: '{"max-length": 1000, "message-ttl": 60000}' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Add / update policy');
  const form = h('form', { class: 'stack', id: 'add-policy' }, field('Virtual host', vh), field('Name', name), field('Pattern', pattern),
    field('Apply to', applyTo), field('Priority', prio), field('Definition (JSON)', def), btn);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(btn, async () => {
      await api('PUT', `/policies/${enc(vh.value)}/${enc(name.value)}`, {
        pattern: pattern.value, 'apply-to': applyTo.value, priority: Number(prio.value) || 0,
        definition: parseJsonField(def.value, 'The definition'),
      });
      return `Policy ${name.value} saved.`;
    });
  });
  put(main, h('h1', {}, 'Policies'), holder, section('Add or update a policy', false, form));
  return {
    async refresh() {
      const vhf = selectedVhost();
      const ps = await api('GET', '/policies' + (vhf ? '/' + enc(vhf) : ''));
      clear(holder).append(table([
        { label: 'Virtual host', render: p => p.vhost }, { label: 'Name', render: p => p.name },
        { label: 'Pattern', render: p => h('code', {}, p.pattern) }, { label: 'Apply to', render: p => p['apply-to'] },
        { label: 'Definition', render: p => h('code', {}, json(p.definition)) }, { label: 'Priority', num: true, render: p => p.priority },
        { label: '', render: p => h('button', {
          type: 'button', class: 'danger', onclick: ev => {
            if (!confirm(`Delete policy ${p.name}?`)) return;
            act(ev.target, async () => { await api('DELETE', `/policies/${enc(p.vhost)}/${enc(p.name)}`); return `Policy ${p.name} deleted.`; });
          },
        }, 'Delete') },
      ], ps, { empty: 'No policies.' }));
    },
  };
};

pages.definitions = function (main) {
  const summary = h('div', {});
  const exportBtn = h('button', { type: 'button', class: 'primary', id: 'export' }, 'Download broker definitions');
  const link = h('a', { hidden: true });
  exportBtn.addEventListener('click', () => act(exportBtn, async () => {
    const vhf = selectedVhost();
    const d = await api('GET', '/definitions' + (vhf ? '/' + enc(vhf) : ''));
    const blob = new Blob([JSON.stringify(d, null, 2) + '\n'], { type: 'application/json' });
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = `warren-definitions${vhf ? '-' + vhf.replace(/[^\w.-]/g, '_') : ''}.json`;
    link.click();
    return `Definitions exported (${link.download}).`;
  }));
  const file = h('input', { type: 'file', name: 'file', accept: '.json,application/json' });
  const text = h('textarea', { name: 'definitions', rows: 8, placeholder: 'or paste definitions JSON here' });
  const importBtn = h('button', { type: 'submit', class: 'primary' }, 'Upload definitions');
  const form = h('form', { class: 'stack', id: 'import' }, field('File', file), field('JSON', text), importBtn,
    h('p', { class: 'hint full' }, 'POST /api/definitions: users, vhosts, permissions, policies, exchanges, queues and bindings are added or updated; nothing is removed.'));
  file.addEventListener('change', async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    act(importBtn, async () => {
      const body = text.value.trim();
      if (!body) throw new Error('Choose a file or paste definitions first.');
      try { JSON.parse(body); } catch (e) { throw new Error(`That is not JSON (${e.message}).`); }
      const vhf = selectedVhost();
      await api('POST', '/definitions' + (vhf ? '/' + enc(vhf) : ''), body);
      await loadVhosts();
      return 'Definitions imported.';
    });
  });
  put(main, h('h1', {}, 'Definitions'), h('p', { class: 'hint' },
    'The broker\'s topology in RabbitMQ\'s definitions format (the virtual host selected at the top narrows it to one).'),
  h('h2', {}, 'Export'), summary, h('div', { class: 'actions' }, exportBtn), link, h('h2', {}, 'Import'), form);
  return {
    async refresh() {
      const vhf = selectedVhost();
      const d = await api('GET', '/definitions' + (vhf ? '/' + enc(vhf) : ''));
      clear(summary).append(h('div', { class: 'cards' },
        ['users', 'vhosts', 'permissions', 'policies', 'exchanges', 'queues', 'bindings'].filter(k => Array.isArray(d[k])).map(k =>
          h('div', { class: 'card' }, h('div', { class: 'n' }, fmtNum(d[k].length)), h('div', { class: 'l' }, k)))));
    },
  };
};

pages.notfound = function (main) {
  put(main, h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Overview')));
  return {};
};

/* ------------------------------------------------------------ start */

function init() {
  document.getElementById('login').addEventListener('submit', login);
  document.getElementById('logout').addEventListener('click', () => logout());
  document.getElementById('vhost-filter').addEventListener('change', ev => {
    sessionStorage.setItem('warren.vhost', ev.target.value);
    for (const s of [qState, exState, connState, chanState]) s.page = 1;
    route();
  });
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshNow(); });
  startTimer();
  if (!auth.get()) { showLogin(); return; }
  api('GET', '/whoami').then(u => { app.user = u; return startApp(); })
    .catch(e => { auth.clear(); showLogin(e.status === 401 ? '' : e.message); });
}

init();
