// hookgate operator console (issue 16): plain JavaScript over the admin API, no build step, no third-party code.
// Every value from the server is put in the page as text (never as HTML).
'use strict';

const TOKEN_KEY = 'hookgate.adminToken';
const $ = (id) => document.getElementById(id);
const state = { page: '', timers: [], lastVerdict: undefined, verdicts: [], qCursor: undefined };

/** A DOM element: `el('td', { class: 'num' }, 'text', child, …)`. Strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat())
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    ...options,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(options.headers || {}) },
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : {};
  if (res.status === 401) {
    logout('Your token was refused: log in again.');
    throw new ApiError(401, body.error?.code, 'not logged in');
  }
  if (!res.ok) throw new ApiError(res.status, body.error?.code, body.error?.message || `HTTP ${res.status}`);
  return body;
}

const fmtTime = (ms) => new Date(ms).toLocaleString(undefined, { hour12: false });
const fmtClock = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour12: false });
const fmtMs = (ms) => (ms === undefined ? '' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);
const fmtPct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)} %`;
function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}
const badge = (action) => el('span', { class: `action ${action}` }, action);
const tags = (list, cls) => (list || []).map((t) => el('span', { class: `tag ${cls || ''}` }, t));
const txnLink = (txnId) =>
  txnId ? el('a', { href: `#lookup/${encodeURIComponent(txnId)}`, class: 'mono' }, txnId) : '';
const qLink = (id) => el('a', { href: `#quarantine/${id}`, class: 'mono' }, id);

function clearTimers() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
}

function every(ms, fn) {
  void fn();
  state.timers.push(setInterval(() => void fn(), ms));
}

// ---- login ----------------------------------------------------------------------------------------------------

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimers();
  for (const p of document.querySelectorAll('.page')) p.hidden = true;
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    const me = await api('/admin/whoami');
    $('who').textContent = `admin: ${me.identity}`;
    $('login').hidden = true;
    $('nav').hidden = false;
    $('logout').hidden = false;
    route();
  } catch (err) {
    if (err.status !== 401) logout(`Cannot reach the admin API: ${err.message}`);
  }
}

// ---- pages ----------------------------------------------------------------------------------------------------

function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return logout();
  const [page, ...rest] = (location.hash.slice(1) || 'verdicts').split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  const pages = { verdicts: showVerdicts, lookup: showLookup, pools: showPools, quarantine: showQuarantine };
  const show = pages[page] || showVerdicts;
  const name = pages[page] ? page : 'verdicts';
  clearTimers();
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== `page-${name}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === name);
  state.page = name;
  void show(arg);
}

function showVerdicts() {
  every(2000, async () => {
    if ($('v-pause').checked) return;
    try {
      const q = state.lastVerdict
        ? `?after=${encodeURIComponent(state.lastVerdict)}&count=500`
        : '?count=200';
      const { entries } = await api(`/admin/verdicts${q}`);
      // The first read comes newest first; later reads (after an id) oldest first.
      const fresh = state.lastVerdict ? entries.reverse() : entries;
      if (fresh.length) {
        state.lastVerdict = fresh[0].id;
        state.verdicts = [...fresh, ...state.verdicts].slice(0, 500);
      }
      renderVerdicts();
      $('v-status').textContent = `updated ${fmtClock(Date.now())}`;
    } catch (err) {
      $('v-status').textContent = `not updated: ${err.message}`;
    }
  });
}

function renderVerdicts() {
  const want = $('v-action').value;
  const rows = state.verdicts
    .filter((e) => !want || e.action === want)
    .slice(0, 200)
    .map((e) =>
      el(
        'tr',
        { 'data-req': e.reqId },
        el('td', { class: 'mono' }, fmtClock(e.at)),
        el('td', {}, e.protocol || ''),
        el('td', {}, e.stage),
        el(
          'td',
          {},
          badge(e.action),
          e.quarantineId ? [' ', qLink(e.quarantineId)] : '',
          e.partial ? el('span', { class: 'muted' }, ' partial') : '',
        ),
        el('td', {}, tags(e.reasons)),
        el(
          'td',
          {},
          e.scanners.map((s) =>
            el(
              'span',
              { class: `tag ${s.status}`, title: s.code || '' },
              `${s.id} ${s.status} ${fmtMs(s.ms)}${s.cached ? ' (cached)' : ''}`,
            ),
          ),
        ),
        el('td', { class: 'num' }, fmtMs(e.durationMs)),
        el('td', {}, txnLink(e.txnId)),
      ),
    );
  $('v-rows').replaceChildren(
    ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No verdicts yet.'))]),
  );
}

async function showLookup(arg) {
  $('lookup-error').textContent = '';
  if (!arg) {
    $('lookup-result').replaceChildren();
    $('lookup-q').focus();
    return;
  }
  $('lookup-q').value = arg;
  const isTxn = /^[A-Za-z0-9_-]{1,64}\.\d{1,9}$/.test(arg);
  try {
    const t = await api(
      isTxn
        ? `/admin/transactions/${encodeURIComponent(arg)}`
        : `/admin/transactions?queueId=${encodeURIComponent(arg)}`,
    );
    $('lookup-result').replaceChildren(renderTransaction(t));
  } catch (err) {
    $('lookup-result').replaceChildren();
    $('lookup-error').textContent = err.message;
  }
}

function renderTransaction(t) {
  return el(
    'div',
    { id: 'txn', 'data-txn': t.txnId },
    el(
      'h2',
      {},
      'Transaction ',
      el('span', { class: 'mono' }, t.txnId),
      t.queueId ? el('span', { class: 'muted' }, ` (queue id ${t.queueId})`) : '',
    ),
    t.stages.map((s) => {
      const r = s.record;
      if (!r)
        return el(
          'div',
          { class: 'card' },
          el('strong', {}, s.stage),
          el(
            'span',
            { class: 'muted' },
            ' — no verdict recorded (still running, or its answer was not stored)',
          ),
        );
      const v = r.verdict;
      return el(
        'div',
        { class: 'card stage', 'data-stage': s.stage },
        el('h2', {}, s.stage, ' ', badge(v.action)),
        el(
          'dl',
          { class: 'kv' },
          el('dt', {}, 'request'),
          el('dd', { class: 'mono' }, s.reqId),
          el('dt', {}, 'reply'),
          el('dd', {}, v.reply ? `${v.reply.code} ${v.reply.enhanced || ''} ${v.reply.text}` : '—'),
          el('dt', {}, 'reasons'),
          el('dd', {}, v.reasons.length ? tags(v.reasons) : '—'),
          el('dt', {}, 'decided by'),
          el('dd', {}, v.decidedBy.join(', ') || '—'),
          el('dt', {}, 'policy'),
          el('dd', {}, `${v.policy || 'default'}${v.rule ? ` (rule ${v.rule})` : ''}`),
          el('dt', {}, 'partial'),
          el('dd', {}, v.partial ? 'yes: a scanner had not answered by the deadline' : 'no'),
          v.spamScore !== undefined ? [el('dt', {}, 'spam score'), el('dd', {}, String(v.spamScore))] : '',
          v.quarantine
            ? [
                el('dt', {}, 'quarantine'),
                el('dd', {}, qLink(v.quarantine.id), ` (answered ${v.quarantine.answer})`),
              ]
            : '',
          el('dt', {}, 'answered'),
          el('dd', {}, `${fmtTime(r.answeredAt)} after ${fmtMs(r.durationMs)}`),
          el('dt', {}, 'expected'),
          el('dd', {}, r.expected.join(', ') || '—'),
        ),
        el(
          'table',
          { class: 'grid' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              el('th', {}, 'Scanner'),
              el('th', {}, 'Outcome'),
              el('th', {}, 'Detail'),
              el('th', {}, 'Duration'),
              el('th', {}, 'After answer'),
            ),
          ),
          el(
            'tbody',
            {},
            r.results.map((x) =>
              el(
                'tr',
                {},
                el('td', {}, x.scanner),
                el(
                  'td',
                  {},
                  el('span', { class: `tag ${x.outcome.status}` }, x.outcome.status),
                  x.cached ? ' (cached)' : '',
                ),
                el('td', {}, outcomeDetail(x.outcome)),
                el('td', { class: 'num' }, fmtMs(x.durationMs)),
                el('td', {}, x.at > r.answeredAt ? 'late' : ''),
              ),
            ),
          ),
        ),
      );
    }),
  );
}

function outcomeDetail(o) {
  switch (o.status) {
    case 'fail':
      return `${o.category} → ${o.action}: ${o.names.join(', ')}${o.score !== undefined ? ` (score ${o.score})` : ''}`;
    case 'error':
      return `${o.code}: ${o.message}`;
    case 'unscanned':
      return o.reason;
    case 'skip':
      return o.reason;
    default:
      return o.score !== undefined ? `score ${o.score}` : '';
  }
}

function showPools() {
  every(5000, async () => {
    try {
      const { window, scanners } = await api('/admin/pools');
      $('p-window').textContent = window.entries
        ? `rates over the last ${window.entries} verdicts (since ${fmtClock(window.since)})`
        : 'no verdicts yet';
      $('p-rows').replaceChildren(
        ...scanners.map((s) =>
          el(
            'tr',
            { 'data-scanner': s.id },
            el('td', {}, s.id),
            el('td', {}, s.placement === 'queue' ? 'worker pool' : 'in the ingress'),
            el('td', {}, s.stages.join(', ')),
            el('td', {}, s.required ? 'yes (fail-closed)' : 'no (fail-open)'),
            el(
              'td',
              { class: 'num' },
              s.placement === 'queue'
                ? s.workers === 0
                  ? el('span', { class: 'action reject' }, 'none')
                  : String(s.workers)
                : '—',
            ),
            el('td', { class: 'num' }, s.placement === 'queue' ? String(s.queueDepth) : '—'),
            el('td', { class: 'num' }, String(s.recent.results)),
            el('td', { class: 'num' }, fmtPct(s.recent.errorRate)),
            el('td', { class: 'num' }, fmtPct(s.recent.timeoutRate)),
            el('td', { class: 'num' }, fmtMs(s.recent.p50Ms)),
            el('td', { class: 'num' }, fmtMs(s.recent.p95Ms)),
            el('td', { class: 'num' }, fmtMs(s.recent.maxMs)),
          ),
        ),
      );
    } catch (err) {
      $('p-window').textContent = `not updated: ${err.message}`;
    }
  });
}

function quarantineQuery(cursor) {
  const form = new FormData($('q-filter'));
  const params = new URLSearchParams();
  for (const [k, v] of form.entries()) {
    if (!v) continue;
    if (k === 'since' || k === 'until') params.set(k, String(new Date(String(v)).getTime()));
    else params.set(k, String(v));
  }
  params.set('limit', '50');
  if (cursor) params.set('cursor', cursor);
  return `/admin/quarantine?${params}`;
}

async function loadQuarantine(more) {
  $('q-error').textContent = '';
  try {
    const page = await api(quarantineQuery(more ? state.qCursor : undefined));
    state.qCursor = page.next;
    $('q-more').hidden = !page.next;
    const u = page.usage;
    const meter = el(
      'span',
      { class: 'meter', title: `${fmtBytes(u.bytes)} of ${fmtBytes(u.maxBytes)}` },
      el('span'),
    );
    meter.firstChild.style.width = `${Math.min(100, (u.bytes / u.maxBytes) * 100)}%`;
    $('q-usage').replaceChildren(
      `${u.held} held, ${fmtBytes(u.bytes)} of ${fmtBytes(u.maxBytes)} `,
      meter,
      ` · ${page.store} store · release relay: ${page.relay || 'none configured'}`,
    );
    const rows = page.items.map((i) =>
      el(
        'tr',
        { class: 'clickable', 'data-id': i.id, onclick: () => (location.hash = `#quarantine/${i.id}`) },
        el('td', { class: 'mono' }, fmtTime(i.keptAt)),
        el('td', { class: 'mono' }, i.id),
        el('td', {}, i.from || '<>'),
        el('td', {}, i.to.join(', ')),
        el('td', {}, i.subject || ''),
        el('td', {}, tags(i.reasons)),
        el('td', { class: 'num' }, fmtBytes(i.size)),
        el('td', {}, badge(i.status)),
      ),
    );
    if (more) $('q-rows').append(...rows);
    else
      $('q-rows').replaceChildren(
        ...(rows.length
          ? rows
          : [el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'Nothing matches.'))]),
      );
  } catch (err) {
    $('q-error').textContent = err.message;
  }
}

async function showQuarantine(id) {
  await loadQuarantine(false);
  if (id) await showItem(id, false);
  else $('q-detail').replaceChildren();
}

async function showItem(id, body) {
  try {
    const item = await api(`/admin/quarantine/${encodeURIComponent(id)}${body ? '?body=1' : ''}`);
    $('q-detail').replaceChildren(renderItem(item));
  } catch (err) {
    $('q-detail').replaceChildren(el('div', { class: 'card' }, el('p', { class: 'error' }, err.message)));
  }
}

function renderItem(i) {
  const held = i.status === 'held';
  const result = el('p', { id: 'q-result', role: 'status' });
  const act = async (what, button) => {
    if (
      !confirm(
        what === 'release'
          ? `Deliver ${i.id} to ${i.to.join(', ')}?`
          : `Delete ${i.id}? Its message is removed for good.`,
      )
    )
      return;
    button.disabled = true;
    try {
      const r =
        what === 'release'
          ? await api(`/admin/quarantine/${i.id}/release`, { method: 'POST' })
          : await api(`/admin/quarantine/${i.id}`, { method: 'DELETE' });
      result.className = '';
      result.textContent =
        what === 'release'
          ? `Released: ${r.reply}${r.refused.length ? `; refused: ${r.refused.join(', ')}` : ''}`
          : 'Deleted.';
      await loadQuarantine(false);
      const fresh = await api(`/admin/quarantine/${i.id}`);
      $('q-detail').replaceChildren(renderItem(fresh));
      $('q-result').textContent = result.textContent;
    } catch (err) {
      result.className = 'error';
      result.textContent = err.message;
      button.disabled = false;
    }
  };
  const release = el('button', { type: 'button', id: 'q-release', disabled: !held }, 'Release');
  release.addEventListener('click', () => void act('release', release));
  const del = el(
    'button',
    {
      type: 'button',
      id: 'q-delete',
      class: 'danger',
      disabled: i.status === 'deleted' || i.status === 'releasing',
    },
    'Delete',
  );
  del.addEventListener('click', () => void act('delete', del));
  const showBody = el(
    'button',
    { type: 'button', class: 'secondary', disabled: !held || Boolean(i.message) },
    'Show message (audited)',
  );
  showBody.addEventListener('click', () => void showItem(i.id, true));
  const v = i.record.verdict;
  return el(
    'div',
    { class: 'card', id: 'q-item', 'data-id': i.id, 'data-status': i.status },
    el('h2', {}, 'Item ', el('span', { class: 'mono' }, i.id), ' ', badge(i.status)),
    el(
      'dl',
      { class: 'kv' },
      el('dt', {}, 'kept'),
      el('dd', {}, `${fmtTime(i.keptAt)} (expires ${fmtTime(i.expiresAt)})`),
      el('dt', {}, 'envelope'),
      el('dd', {}, `${i.from || '<>'} → ${i.to.join(', ')}`),
      el('dt', {}, 'client'),
      el('dd', {}, `${i.client.ip}${i.client.helo ? ` (${i.client.helo})` : ''}`),
      el('dt', {}, 'transaction'),
      el('dd', {}, txnLink(i.txnId), i.queueId ? ` · queue id ${i.queueId}` : '', ` · ${i.protocol}`),
      el('dt', {}, 'verdict'),
      el('dd', {}, badge(v.action), ' ', tags(v.reasons), ` by ${v.decidedBy.join(', ')}`),
      el('dt', {}, 'size'),
      el(
        'dd',
        {},
        fmtBytes(i.size),
        i.lossy
          ? el(
              'span',
              { class: 'error' },
              ' — a reconstruction (the MTA sent no raw message): a release delivers these bytes',
            )
          : '',
      ),
      i.outcome
        ? [
            el('dt', {}, i.outcome.what),
            el(
              'dd',
              {},
              `by ${i.outcome.by} at ${fmtTime(i.outcome.at)}${i.outcome.reply ? ` — ${i.outcome.reply}` : ''}`,
            ),
          ]
        : '',
    ),
    el('div', { class: 'actions' }, release, del, showBody),
    result,
    el('h2', {}, 'Headers'),
    el('pre', { class: 'mono' }, i.headers.map((h) => `${h.name}: ${h.value}`).join('\n')),
    i.message
      ? [el('h2', {}, 'Message'), el('pre', { class: 'mono', id: 'q-body' }, decodeBase64(i.message.base64))]
      : '',
    el('h2', {}, 'Audit'),
    el(
      'table',
      { class: 'grid' },
      el(
        'tbody',
        {},
        i.audit.map((a) =>
          el(
            'tr',
            {},
            el('td', { class: 'mono' }, fmtTime(a.at)),
            el('td', {}, a.who),
            el('td', {}, a.what),
            el('td', {}, a.detail || ''),
          ),
        ),
      ),
    ),
  );
}

function decodeBase64(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

// ---- wiring ---------------------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    $('token').value = '';
    void login(token);
  });
  $('logout').addEventListener('click', () => logout('Logged out.'));
  $('v-action').addEventListener('change', renderVerdicts);
  $('lookup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#lookup/${encodeURIComponent($('lookup-q').value.trim())}`;
  });
  $('q-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    void loadQuarantine(false);
  });
  $('q-more').addEventListener('click', () => void loadQuarantine(true));
  window.addEventListener('hashchange', route);
  if (sessionStorage.getItem(TOKEN_KEY)) void login(sessionStorage.getItem(TOKEN_KEY));
  else logout();
});
