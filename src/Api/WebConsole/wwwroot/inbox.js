// The inbox: requests sorted by priority then deadline, live countdowns, filters, live arrivals, keyboard shortcuts,
// and bulk decisions on the selected open requests.
import { approvals } from './api.js';
import { MAX_BULK, bulkResults, openBulkDialog } from './bulk.js';
import { allowed, openDecisionDialog } from './decide.js';
import { emptyState, errorBox, h, replace, skeleton, toast, typingTarget, watchPage } from './dom.js';
import { PRIORITIES, RISKS, STATUSES, agentLabel, formatCost, isOpen, statusLabel, updateCountdowns } from './format.js';

const FILTERS = ['status', 'priority', 'risk_level', 'agent_id', 'action_name'];

export function renderInbox(main, { query, navigate }) {
  // The inbox opens on pending requests; `status=any` in the address keeps "any status" across reloads.
  const filters = Object.fromEntries(FILTERS.map(k => [k, query.get(k) ?? (k === 'status' ? 'pending' : '')]));
  if (filters.status === 'any') filters.status = '';
  let items = [];
  let known = null;
  let selected = 0;
  let loading = null;
  let reloadTimer = null;
  // Ids of the open requests selected for a bulk decision; kept across live reloads while they stay listed and open.
  const chosen = new Set();

  const count = h('p', { class: 'muted', id: 'inbox-count' });
  const announcer = h('div', { class: 'sr-only', 'aria-live': 'polite', id: 'inbox-announcer' });
  const body = h('div', { id: 'inbox-body' }, skeleton());
  const results = h('div', { id: 'bulk-results-slot' });
  const chosenCount = h('span', { id: 'bulk-count', 'aria-live': 'polite' });
  const bulkButton = (kind, label, cls) => h('button', { type: 'button', class: cls, id: `bulk-${kind}`, disabled: true,
    onclick: () => openBulkDialog(kind, items.filter(a => chosen.has(a.id)), showResults) }, label);
  const approveChosen = bulkButton('approve', 'Approve selected', 'approve');
  const rejectChosen = bulkButton('reject', 'Reject selected', 'reject');
  const bulkBar = h('div', { class: 'bulk-bar', id: 'bulk-bar', role: 'group', 'aria-label': 'Bulk decision' }, chosenCount, approveChosen, rejectChosen);

  const select = (name, label, values, anyText) => h('div', {},
    h('label', { for: `f-${name}` }, label),
    h('select', { id: `f-${name}`, name, onchange: update },
      h('option', { value: '' }, anyText),
      values.map(v => h('option', { value: v, selected: filters[name] === v }, statusLabel(v)))));
  const text = (name, label, placeholder) => h('div', {},
    h('label', { for: `f-${name}` }, label),
    h('input', { type: 'text', id: `f-${name}`, name, value: filters[name], placeholder, onchange: update }));

  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter requests', onsubmit: (e) => { e.preventDefault(); update(); } },
    select('status', 'Status', STATUSES, 'Any status'),
    select('priority', 'Priority', PRIORITIES, 'Any priority'),
    select('risk_level', 'Risk', RISKS, 'Any risk'),
    text('agent_id', 'Agent', 'agent id'),
    text('action_name', 'Action', 'action name'));

  replace(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Inbox'), count)),
    form,
    results,
    h('section', { class: 'card', 'aria-labelledby': 'inbox-caption' }, bulkBar, body),
    h('p', { class: 'shortcuts' }, 'Shortcuts: ', h('kbd', {}, 'j'), ' / ', h('kbd', {}, 'k'), ' move, ', h('kbd', {}, 'Enter'), ' open, ',
      h('kbd', {}, 'a'), ' approve, ', h('kbd', {}, 'r'), ' reject, ', h('kbd', {}, 'i'), ' request info, ', h('kbd', {}, 'x'), ' select for a bulk decision.'),
    announcer);

  function update() {
    for (const name of FILTERS) filters[name] = form.elements[name].value.trim();
    const params = new URLSearchParams(Object.entries(filters).filter(([k, v]) => v && !(k === 'status' && v === 'pending')));
    if (!filters.status) params.set('status', 'any');
    history.replaceState(null, '', `/inbox${params.size ? `?${params}` : ''}`);
    known = null;
    body.replaceChildren(skeleton());
    load();
  }

  async function load() {
    const call = approvals.list({ ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)), limit: 200 });
    loading = call;
    try {
      const page = await call;
      if (loading !== call) return;
      const next = sortForInbox(page.items);
      const arrived = known ? next.filter(a => !known.has(a.id)) : [];
      const current = items[selected]?.id;
      items = next;
      known = new Set(items.map(a => a.id));
      selected = Math.max(0, Math.min(items.findIndex(a => a.id === current) >= 0 ? items.findIndex(a => a.id === current) : selected, items.length - 1));
      for (const id of [...chosen]) if (!items.some(a => a.id === id && isOpen(a))) chosen.delete(id);
      render(new Set(arrived.map(a => a.id)));
      if (arrived.length) announcer.textContent = arrived.length === 1 ? `New request: ${arrived[0].action_name}` : `${arrived.length} new requests`;
    } catch (error) {
      if (loading === call) body.replaceChildren(errorBox(error, load));
    }
  }

  function render(arrived) {
    updateBulkBar();
    count.textContent = `${items.length} ${items.length === 1 ? 'request' : 'requests'}${filters.status ? ` · ${statusLabel(filters.status)}` : ''}`;
    if (items.length === 0) {
      const narrowed = FILTERS.some(k => k !== 'status' && filters[k]);
      body.replaceChildren(filters.status === 'pending' && !narrowed
        ? emptyState('✓', 'Nothing is waiting for you', 'New requests appear here as soon as an agent asks.')
        : emptyState('∅', 'No requests match these filters', 'Change or clear the filters above.'));
      return;
    }
    const rows = items.map((a, i) => h('tr', {
      class: `inbox-row${arrived.has(a.id) ? ' is-new' : ''}`, dataset: { id: a.id }, 'aria-selected': String(i === selected), tabindex: i === selected ? '0' : '-1',
      onclick: (e) => { if (!(e.target instanceof Element && e.target.closest('a, input, .select-cell'))) navigate(`/approvals/${a.id}`); },
      onfocus: () => { selected = i; markSelected(); },
    },
    h('td', { class: 'select-cell' }, isOpen(a)
      ? h('input', { type: 'checkbox', class: 'bulk-select', 'aria-label': `Select ${a.action_name}`, checked: chosen.has(a.id), onchange: (e) => choose(a, e.target.checked) })
      : null),
    h('td', {}, h('span', { class: `badge p-${a.priority}` }, a.priority)),
    h('td', { class: 'row-title' }, h('a', { href: `/approvals/${a.id}`, 'data-link': '' }, a.action_name),
      a.action_description ? h('div', { class: 'row-desc', title: a.action_description }, a.action_description) : null,
      a.quorum ? h('div', { class: 'row-quorum', title: a.quorum.summary }, quorumCount(a.quorum)) : null),
    h('td', { class: 'hide-narrow' }, agentLabel(a)),
    h('td', { class: 'hide-narrow' }, a.risk_level ? h('span', { class: `badge p-${a.risk_level === 'minimal' ? 'low' : a.risk_level}` }, a.risk_level) : '—'),
    h('td', { class: 'num hide-narrow' }, formatCost(a.estimated_cost)),
    h('td', {}, isOpen(a) ? h('span', { class: 'countdown', dataset: { deadline: a.expires_at } }) : '—'),
    h('td', {}, h('span', { class: `badge s-${a.status}` }, statusLabel(a.status)))));
    body.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'inbox-table', role: 'grid', 'aria-readonly': 'true' },
      h('caption', { class: 'sr-only', id: 'inbox-caption' }, 'Approval requests, most urgent first'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'select-cell' }, h('input', { type: 'checkbox', id: 'bulk-all', 'aria-label': 'Select all open requests', onchange: (e) => chooseAll(e.target.checked) })),
        h('th', { scope: 'col' }, 'Priority'), h('th', { scope: 'col' }, 'Request'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Agent'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Risk'), h('th', { scope: 'col', class: 'num hide-narrow' }, 'Cost'), h('th', { scope: 'col' }, 'Deadline'), h('th', { scope: 'col' }, 'Status'))),
      h('tbody', {}, rows))));
    tick();
  }

  /** Adds or removes one request from the bulk selection, up to MAX_BULK. */
  function choose(approval, on) {
    if (on && !chosen.has(approval.id) && chosen.size >= MAX_BULK) {
      toast(`At most ${MAX_BULK} requests can be decided at once.`);
    } else if (on) {
      chosen.add(approval.id);
    } else {
      chosen.delete(approval.id);
    }
    syncChecks();
  }

  function chooseAll(on) {
    if (!on) chosen.clear();
    else for (const a of items.filter(isOpen)) if (chosen.size < MAX_BULK) chosen.add(a.id);
    if (on && items.filter(isOpen).length > MAX_BULK) toast(`The first ${MAX_BULK} open requests are selected: at most ${MAX_BULK} can be decided at once.`);
    syncChecks();
  }

  function syncChecks() {
    main.querySelectorAll('tr.inbox-row').forEach((row) => {
      const box = row.querySelector('input.bulk-select');
      if (box) box.checked = chosen.has(row.dataset.id);
    });
    updateBulkBar();
  }

  function updateBulkBar() {
    const open = items.filter(isOpen).length;
    chosenCount.textContent = chosen.size ? `${chosen.size} selected` : 'Select open requests to decide several at once.';
    approveChosen.disabled = rejectChosen.disabled = chosen.size === 0;
    const all = main.querySelector('#bulk-all');
    if (all) {
      all.checked = chosen.size > 0 && chosen.size >= Math.min(open, MAX_BULK);
      all.indeterminate = chosen.size > 0 && !all.checked;
      all.disabled = open === 0;
    }
  }

  function showResults(answer) {
    const names = new Map(items.map(a => [a.id, a.action_name]));
    for (const r of answer.results) chosen.delete(r.id);
    results.replaceChildren(bulkResults(answer, names));
    announcer.textContent = `Bulk decision: ${answer.totals.decided} decided`;
    scheduleReload();
  }

  function markSelected(focus = false) {
    main.querySelectorAll('tr.inbox-row').forEach((row, i) => {
      row.setAttribute('aria-selected', String(i === selected));
      row.tabIndex = i === selected ? 0 : -1;
      if (i === selected && focus) { row.focus(); row.scrollIntoView({ block: 'nearest' }); }
    });
  }

  // A request whose deadline passes is expired: read the list again.
  const tick = () => updateCountdowns(main, scheduleReload);

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 250);
  }

  function onKey(e) {
    if (typingTarget(e) || items.length === 0) return;
    const approval = items[selected];
    switch (e.key) {
      case 'j': selected = Math.min(selected + 1, items.length - 1); markSelected(true); break;
      case 'k': selected = Math.max(selected - 1, 0); markSelected(true); break;
      case 'Enter': case 'o': navigate(`/approvals/${approval.id}`); break;
      case 'x': if (isOpen(approval)) choose(approval, !chosen.has(approval.id)); break;
      case 'a': case 'r': case 'i': {
        const kind = { a: 'approve', r: 'reject', i: 'info' }[e.key];
        if (!allowed(approval, kind)) { toast(`“${approval.action_name}” cannot be ${kind === 'info' ? 'asked about' : `${kind}d`} now.`); break; }
        openDecisionDialog(approval, kind, (updated, d) => { toast(`${d.done}: ${updated.action_name}`); scheduleReload(); });
        break;
      }
      default: return;
    }
    e.preventDefault();
  }

  load();
  return watchPage({ tick, onKey, onChanged: scheduleReload, stop: () => { clearTimeout(reloadTimer); loading = null; } });
}

/** Most urgent first: priority, then the nearest deadline. */
export function sortForInbox(list) {
  const rank = (p) => { const i = PRIORITIES.indexOf(p); return i < 0 ? PRIORITIES.length : i; };
  return [...list].sort((a, b) => rank(a.priority) - rank(b.priority) || new Date(a.expires_at) - new Date(b.expires_at));
}

/** A quorum request's progress, short enough for a list row: "1 of 2 approvals" (the whole line is its tooltip). */
export function quorumCount(q) {
  return q.approvals > q.required ? `${q.approvals} approvals (${q.required} needed)` : `${q.approvals} of ${q.required} approvals`;
}
