/* console.js - the delivery console: asks the admin API (/status, /series,
 * /attempts, /dlq, /rules) every two seconds and shows the answers.
 *
 * Safe by construction: every value from the server (rows, response
 * bodies, config strings) goes into the page as text (createTextNode,
 * textContent), never as markup; nothing here builds HTML from strings.
 * The page is served with a Content-Security-Policy that allows no inline
 * script, so markup that slipped in could not run either. Actions are
 * POSTs with Content-Type: application/json and the token, which no form
 * of another page can send. The token lives in sessionStorage: this tab
 * only. */
'use strict';
(function () {
  const TOKEN_KEY = 'binhook.token';
  const POLL_MS = 2000;
  const st = {
    view: 'overview',
    status: null,
    prev: null,            /* the status before, for rates */
    rates: {},             /* endpoint -> deliveries per second */
    rules: null,
    attemptsBefore: null,  /* paging: null for the newest */
    attemptsNext: null,
    attemptOpen: null,     /* the attempt shown in the detail */
    chosen: new Set(),     /* dead letters ticked, by webhook-id */
    deadOpen: null,
    busy: false,
  };

  /* ---- small helpers ---- */

  const $ = (sel) => document.querySelector(sel);

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'onclick') e.addEventListener('click', v);
      else e[k] = v;
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }

  function setText(node, v) {
    node.textContent = v === null || v === undefined ? '' : String(v);
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function when(t) {
    if (!t) return '';
    return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function age(sec) {
    if (sec === null || sec === undefined) return '';
    sec = Math.round(sec);
    if (sec < 120) return sec + ' s';
    if (sec < 7200) return Math.round(sec / 60) + ' min';
    return Math.round(sec / 3600) + ' h';
  }

  function ms(sec) {
    if (sec === null || sec === undefined) return '';
    return sec < 1 ? (sec * 1000).toFixed(1) + ' ms' : sec.toFixed(2) + ' s';
  }

  function pct(x) {
    return x === null || x === undefined ? '' : (x * 100).toFixed(1) + ' %';
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else if (v !== '' && v !== null && v !== undefined) q.append(k, v);
    }
    const s = q.toString();
    return s ? '?' + s : '';
  }

  function problem(msg) {
    const p = $('#problem');
    setText(p, msg);
    p.hidden = !msg;
  }

  /* ---- the API ---- */

  class Unauthorized extends Error {}

  async function api(path, post) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    const opts = { headers, cache: 'no-store', credentials: 'omit' };
    if (post) {
      opts.method = 'POST';
      headers['Content-Type'] = 'application/json';
      opts.body = '{}';
    }
    const r = await fetch(path, opts);
    if (r.status === 401) {
      showLogin(token ? 'This token was refused: check [admin] token.' : '');
      throw new Unauthorized();
    }
    const text = await r.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      /* JSON lines (GET /dlq) or plain text */
    }
    return { status: r.status, body, text };
  }

  function jsonLines(text) {
    return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  function errorOf(res) {
    if (res.body && typeof res.body === 'object' && res.body.error) return res.body.error;
    return (res.text || '').trim() || 'HTTP ' + res.status;
  }

  /* ---- the token ---- */

  function showLogin(msg) {
    $('#login').hidden = false;
    $('#main').hidden = true;
    setText($('#login-error'), msg);
    $('#token').focus();
  }

  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('#token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('#token').value = '';
    $('#login').hidden = true;
    $('#main').hidden = false;
    refresh();
  });

  /* ---- confirmation ---- */

  function confirmAction(text) {
    const d = $('#confirm');
    setText($('#confirm-text'), text);
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'yes'), { once: true });
      d.returnValue = '';
      d.showModal();
    });
  }

  /* ---- views ---- */

  function showView(name) {
    st.view = name;
    for (const b of document.querySelectorAll('#nav button')) b.classList.toggle('on', b.dataset.view === name);
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + name;
    refresh();
  }

  for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => showView(b.dataset.view));

  function fillSelect(select, names) {
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.length === names.length && have.every((v, i) => v === names[i])) return;
    const keep = select.value;
    select.replaceChildren(select.options[0], ...names.map((n) => el('option', { value: n }, n)));
    select.value = names.includes(keep) ? keep : '';
  }

  function updateSelects() {
    const eps = (st.status && st.status.endpoints ? st.status.endpoints : []).map((e) => e.name);
    const rules = (st.rules || []).map((r) => r.name);
    for (const f of ['#attempt-filters', '#dead-filters']) {
      fillSelect($(f + ' [name=endpoint]'), eps);
      fillSelect($(f + ' [name=rule]'), rules);
    }
  }

  /* Overview */

  function overview(s) {
    const k = (name) => $('#view-overview [data-k=' + name + ']');
    if (s.role === 'standby') {
      setText(k('streaming'), 'standby');
      setText(k('server'), 'the active one is ' + (s.lease ? s.lease.host + ' pid ' + s.lease.pid : 'unknown'));
      return;
    }
    const src = s.source || {};
    setText(k('streaming'), src.streaming ? 'streaming' : src.paused ? 'paused' : 'not streaming');
    k('streaming').className = 'big ' + (src.streaming ? 'ok' : 'bad');
    setText(k('server'), src.server ? src.server + ' (server_id ' + src.server_id + ')' + (src.error ? ': ' + src.error : '')
      : src.error || '');
    setText(k('lag'), src.lag_seconds);
    const cp = s.checkpoint || {};
    setText(k('position'), cp.gtid ? 'GTID ' + cp.gtid : cp.file ? cp.file + ':' + cp.pos : 'none yet');
    setText(k('checkpoint_age'), cp.age_seconds !== undefined ? 'saved ' + age(cp.age_seconds) + ' ago' : '');
    setText(k('waiting'), s.queue.waiting);
    setText(k('dead'), s.queue.dead);
    setText(k('delivered'), s.totals.delivered);
    setText(k('failed'), s.totals.failed_attempts + ' failed attempts');
    const snap = s.snapshot;
    $('#snapshot-card').hidden = !snap;
    if (snap) {
      setText(k('snapshot'), (snap.running ? 'running: ' : 'done: ') + snap.rows_done + ' of about ' + snap.rows_estimated +
        ' rows' + (snap.running && snap.eta_seconds ? ', ' + age(snap.eta_seconds) + ' to go' : ''));
      $('#snapshot-bar').value = snap.rows_estimated ? Math.min(1, snap.rows_done / snap.rows_estimated) : 1;
    }
    const kv = [
      ['role', s.role || 'single (state directory)'],
      ['version', s.version], ['pid', s.pid], ['up for', age(s.uptime_seconds)], ['configuration', s.config],
      ['changes read', s.totals.changes], ['rule matches', s.totals.matches], ['dead (all time)', s.totals.dead],
      ['checkpoint file', cp.file ? cp.file + ':' + cp.pos : ''], ['GTID state', cp.gtid_state || ''],
      ['resumes by', src.resumes_by || ''], ['queue on disk', s.queue.bytes + ' bytes'],
    ];
    if (s.lease) kv.push(['lease', s.lease.host + ' pid ' + s.lease.pid + ', epoch ' + s.lease.epoch]);
    fill($('#overview-kv tbody'), kv.map(([a, b]) => el('tr', {}, el('th', {}, a), el('td', { class: 'mono' }, b))));
  }

  function chart(points, step) {
    const box = $('#chart');
    const NS = 'http://www.w3.org/2000/svg';
    const W = 600, H = 160, P = 4;
    const series = { changes: [], deliveries: [], failures: [] };
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1], b = points[i], dt = Math.max(1, b.t - a.t);
      series.changes.push((b.changes - a.changes) / dt);
      series.deliveries.push((b.delivered - a.delivered) / dt);
      series.failures.push((b.failed - a.failed) / dt);
    }
    const n = series.changes.length;
    const max = Math.max(1, ...series.changes, ...series.deliveries, ...series.failures);
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('preserveAspectRatio', 'none');
    for (const [name, v] of Object.entries(series)) {
      if (!n) break;
      const d = v.map((y, i) => (i ? 'L' : 'M') + (P + (i * (W - 2 * P)) / Math.max(1, n - 1)).toFixed(1) + ' ' +
        (H - P - (y / max) * (H - 2 * P)).toFixed(1)).join(' ');
      const path = document.createElementNS(NS, 'path');
      path.setAttribute('d', d);
      path.setAttribute('class', name);
      svg.append(path);
    }
    box.replaceChildren(svg);
    setText($('#chart-note'), n ? 'top of the chart: ' + max.toFixed(1) + '/s; the last ' + age(n * step) + ', a point every ' +
      step + ' s' : 'a point every ' + step + ' s: the chart starts with the second');
  }

  /* Endpoints */

  function endpointState(e) {
    if (e.disabled) return ['disabled (410 Gone)', 'bad'];
    if (e.circuit_open) return ['circuit open', 'bad'];
    if (e.attempts && e.attempts.last_ok === false) return ['down', 'bad'];
    return ['up', 'ok'];
  }

  function endpoints(s) {
    const rows = (s.endpoints || []).map((e) => {
      const [state, cls] = endpointState(e);
      const a = e.attempts || {};
      const le = a.last_error;
      const last = le ? (le.status ? le.status + ' ' : '') + (le.error || '') + ' at ' + when(le.at) : '';
      const enable = e.disabled ? el('button', {
        type: 'button', class: 'enable', onclick: async () => {
          if (!(await confirmAction('Enable endpoint "' + e.name + '" again? Its deliveries are sent again.'))) return;
          const r = await api('/endpoints/' + encodeURIComponent(e.name) + '/enable', true);
          problem(r.status === 200 ? '' : 'enable: ' + errorOf(r));
          refresh();
        },
      }, 'Enable') : '';
      return el('tr', { 'data-endpoint': e.name },
        el('td', {}, e.name), el('td', { class: cls }, state), el('td', { class: 'mono' }, e.where || ''),
        el('td', {}, st.rates[e.name] === undefined ? '' : st.rates[e.name].toFixed(1)),
        el('td', {}, pct(a.success_rate)), el('td', {}, ms(a.p50_seconds)), el('td', {}, ms(a.p99_seconds)),
        el('td', {}, e.in_flight + ' / ' + e.concurrency), el('td', {}, Math.max(0, e.depth - e.in_flight)),
        el('td', {}, e.depth ? age(e.oldest_age_seconds) : ''), el('td', {}, e.dead_letters),
        el('td', { class: 'cut last-error', title: last }, last), el('td', {}, enable));
    });
    fill($('#endpoints tbody'), rows);
  }

  /* Attempts */

  function attemptFilters() {
    const f = new FormData($('#attempt-filters'));
    const p = {};
    for (const [k, v] of f.entries()) if (v) p[k] = v;
    return p;
  }

  async function attempts() {
    const p = attemptFilters();
    p.limit = 100;
    if (st.attemptsBefore) p.before = st.attemptsBefore;
    const r = await api('/attempts' + query(p));
    if (r.status !== 200) {
      problem('attempts: ' + errorOf(r));
      return;
    }
    st.attemptsNext = r.body.next;
    $('#attempts-older').hidden = !r.body.next;
    $('#attempts-newer').hidden = !st.attemptsBefore;
    fill($('#attempts tbody'), r.body.attempts.map((a) => {
      const ok = a.outcome === 'delivered';
      const tr = el('tr', { class: 'pick' + (st.attemptOpen && st.attemptOpen.no === a.no ? ' chosen' : ''),
        'data-no': a.no, onclick: () => openAttempt(a) },
        el('td', {}, a.no), el('td', {}, when(a.started)), el('td', {}, a.endpoint), el('td', {}, a.rule),
        el('td', {}, a.table || ''), el('td', { class: 'mono cut' }, a.key === null ? '' : JSON.stringify(a.key)),
        el('td', {}, a.attempt), el('td', { class: ok ? 'ok' : 'bad' }, a.status === null ? (a.error || 'error') : a.status),
        el('td', {}, ms(a.seconds)),
        el('td', {}, a.outcome + (a.outcome === 'retrying' ? ' at ' + when(a.retry_at) : '')),
        el('td', { class: 'mono cut response' }, a.body || ''));
      return tr;
    }));
  }

  async function openAttempt(a) {
    st.attemptOpen = a;
    const box = $('#attempt-detail');
    box.hidden = false;
    const req = el('div', {}, el('p', { class: 'muted' }, 'loading the request...'));
    box.replaceChildren(
      el('h3', {}, 'Attempt ' + a.no + ': ' + a.webhook_id),
      el('table', { class: 'kv' }, el('tbody', {},
        ...[['change', a.change], ['rule', a.rule], ['endpoint', a.endpoint], ['table', a.table],
          ['key', a.key === null ? '' : JSON.stringify(a.key)], ['attempt', a.attempt], ['started', when(a.started)],
          ['took', ms(a.seconds)], ['status', a.status], ['error', a.error], ['outcome', a.outcome]]
          .map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { class: 'mono' }, v === null ? '' : v))))),
      el('h4', {}, 'Response (first 1 KiB)'), el('pre', { class: 'response-body' }, a.body || '(none)'),
      el('h4', {}, 'Request'), req);
    for (const tr of document.querySelectorAll('#attempts tbody tr')) tr.classList.toggle('chosen', tr.dataset.no === String(a.no));
    const held = a.outcome === 'dead' ? '' : a.outcome === 'retrying' ? '?waiting=1' : null;
    if (held === null) {
      req.replaceChildren(el('p', { class: 'muted' },
        'Not held any more: binhook keeps the requests of deliveries that wait for a retry or are dead letters.'));
      return;
    }
    const r = await api('/dlq/' + encodeURIComponent(a.webhook_id) + held);
    if (r.status !== 200) {
      req.replaceChildren(el('p', { class: 'muted' }, 'Not held any more (' + errorOf(r) + ').'));
      return;
    }
    req.replaceChildren(requestView(r.body.request));
  }

  function requestView(q) {
    if (!q) return el('p', { class: 'muted' }, 'The request could not be read back.');
    const head = [q.method + ' ' + q.url].concat(Object.entries(q.headers || {}).map(([k, v]) => k + ': ' + v));
    const body = q.body === undefined ? '' : typeof q.body === 'string' ? q.body : JSON.stringify(q.body, null, 2);
    return el('div', {}, el('pre', { class: 'request-head' }, head.join('\n')), el('pre', { class: 'request-body' }, body));
  }

  $('#attempt-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    st.attemptsBefore = null;
    refresh();
  });
  $('#attempts-older').addEventListener('click', () => {
    st.attemptsBefore = st.attemptsNext;
    refresh();
  });
  $('#attempts-newer').addEventListener('click', () => {
    st.attemptsBefore = null;
    refresh();
  });

  /* Dead letters */

  function deadFilters() {
    const f = new FormData($('#dead-filters'));
    const p = {};
    for (const [k, v] of f.entries()) if (v) p[k] = v;
    return p;
  }

  async function dead() {
    const r = await api('/dlq' + query(deadFilters()));
    if (r.status !== 200) {
      problem('dead letters: ' + errorOf(r));
      return;
    }
    const list = jsonLines(r.text);
    const ids = new Set(list.map((d) => d.id));
    for (const id of Array.from(st.chosen)) if (!ids.has(id)) st.chosen.delete(id);
    fill($('#dead tbody'), list.map((d) => {
      const box = el('input', { type: 'checkbox', checked: st.chosen.has(d.id), 'data-id': d.id });
      box.addEventListener('click', (ev) => {
        ev.stopPropagation();
        if (box.checked) st.chosen.add(d.id);
        else st.chosen.delete(d.id);
      });
      return el('tr', { class: 'pick', 'data-id': d.id, onclick: () => openDead(d.id) }, el('td', {}, box),
        el('td', { class: 'mono' }, d.id), el('td', {}, d.endpoint), el('td', {}, d.rule), el('td', {}, d.created),
        el('td', {}, d.dead_at || ''), el('td', {}, d.attempts), el('td', { class: 'cut', title: d.reason || '' }, d.reason || ''));
    }));
    $('#dead-all').checked = list.length > 0 && list.every((d) => st.chosen.has(d.id));
  }

  async function openDead(id) {
    st.deadOpen = id;
    const box = $('#dead-detail');
    box.hidden = false;
    const r = await api('/dlq/' + encodeURIComponent(id));
    if (r.status !== 200) {
      box.replaceChildren(el('p', { class: 'muted' }, id + ': ' + errorOf(r)));
      return;
    }
    const d = r.body;
    box.replaceChildren(el('h3', {}, 'Dead letter ' + d.id),
      el('p', {}, 'endpoint ' + d.endpoint + ', rule ' + d.rule + ', ' + d.attempts + ' attempts, dead since ' + d.dead_at),
      el('p', { class: 'error' }, d.reason || ''), requestView(d.request));
  }

  $('#dead-all').addEventListener('click', () => {
    const on = $('#dead-all').checked;
    for (const box of document.querySelectorAll('#dead tbody input[type=checkbox]')) {
      box.checked = on;
      if (on) st.chosen.add(box.dataset.id);
      else st.chosen.delete(box.dataset.id);
    }
  });

  async function deadAction(op, params, what) {
    if (!(await confirmAction(what))) return;
    const r = await api('/dlq/' + op + query(params), true);
    if (r.status !== 200) {
      problem(op + ': ' + errorOf(r));
      return;
    }
    problem('');
    const n = r.body[op === 'replay' ? 'replayed' : 'dropped'];
    setText($('#dead-result'), (op === 'replay' ? 'replayed ' : 'dropped ') + n + ': see the attempts');
    st.chosen.clear();
    refresh();
  }

  $('#dead-replay-selected').addEventListener('click', () => {
    const ids = Array.from(st.chosen);
    if (!ids.length) return setText($('#dead-result'), 'tick the dead letters to replay first');
    deadAction('replay', { id: ids }, 'Replay ' + ids.length + ' dead letter' + (ids.length === 1 ? '' : 's') + '?');
  });
  $('#dead-drop-selected').addEventListener('click', () => {
    const ids = Array.from(st.chosen);
    if (!ids.length) return setText($('#dead-result'), 'tick the dead letters to drop first');
    deadAction('drop', { id: ids }, 'Drop ' + ids.length + ' dead letter' + (ids.length === 1 ? '' : 's') +
      ' for good? They are not sent again.');
  });
  $('#dead-replay-endpoint').addEventListener('click', () => {
    const f = deadFilters();
    if (!f.endpoint) return setText($('#dead-result'), 'choose an endpoint in the filter first');
    const more = [f.rule ? 'of rule "' + f.rule + '"' : '', f.since ? 'dead since ' + f.since : '',
      f.until ? 'until ' + f.until : ''].filter((x) => x).join(', ');
    deadAction('replay', f, 'Replay every dead letter of endpoint "' + f.endpoint + '"' + (more ? ' (' + more + ')' : '') + '?');
  });
  $('#dead-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    refresh();
  });

  /* Rules */

  function rulesView() {
    fill($('#rules tbody'), (st.rules || []).map((r) => el('tr', { 'data-rule': r.name },
      el('td', {}, r.name, r.description ? el('div', { class: 'muted' }, r.description) : null,
        r.enabled ? null : el('div', { class: 'warn' }, 'disabled')),
      el('td', { class: 'mono' }, r.tables ? r.tables.join(', ') : 'every table'),
      el('td', {}, r.on.join(', ') + (r.kinds.length ? ' (' + r.kinds.join(', ') + ')' : '')),
      el('td', { class: 'mono' }, r.when || ''), el('td', { class: 'mono' }, r.statement || ''),
      el('td', {}, (r.endpoints || []).join(', ')), el('td', { class: 'matches' }, r.matches),
      el('td', { class: 'mono muted' }, r.defined_at))));
  }

  /* ---- the loop ---- */

  function noteRates(s) {
    const now = performance.now();
    if (st.prev && s.endpoints) {
      const dt = (now - st.prev.at) / 1000;
      for (const e of s.endpoints) {
        const before = st.prev.delivered[e.name];
        if (before !== undefined && dt > 0) st.rates[e.name] = Math.max(0, (e.delivered - before) / dt);
      }
    }
    const delivered = {};
    for (const e of s.endpoints || []) delivered[e.name] = e.delivered;
    st.prev = { at: now, delivered };
  }

  async function refresh() {
    if (st.busy) return;
    st.busy = true;
    try {
      const r = await api('/status');
      if (r.status !== 200) throw new Error('status: ' + errorOf(r));
      const s = r.body;
      st.status = s;
      noteRates(s);
      setText($('#role'), s.role || 'single');
      setText($('#live'), 'updated ' + new Date().toLocaleTimeString());
      if (!st.rules && s.role !== 'standby') {
        const rr = await api('/rules');
        if (rr.status === 200) st.rules = rr.body.rules;
      }
      updateSelects();
      problem('');
      if (st.view === 'overview') {
        overview(s);
        if (s.role !== 'standby') {
          const sr = await api('/series');
          if (sr.status === 200) chart(sr.body.points, sr.body.step);
        }
      } else if (s.role === 'standby') {
        problem('This binhook is a standby: the active one (' + (s.lease ? s.lease.host : '?') + ') has the deliveries.');
      } else if (st.view === 'endpoints') {
        endpoints(s);
      } else if (st.view === 'attempts') {
        await attempts();
      } else if (st.view === 'dead') {
        await dead();
      } else if (st.view === 'rules') {
        const rr = await api('/rules');
        if (rr.status === 200) st.rules = rr.body.rules;
        rulesView();
      }
      document.body.dataset.ready = String(Date.now());
    } catch (e) {
      if (!(e instanceof Unauthorized)) problem(String(e.message || e));
    } finally {
      st.busy = false;
    }
  }

  setInterval(() => {
    if (!document.hidden && $('#login').hidden) refresh();
  }, POLL_MS);
  refresh();
})();
