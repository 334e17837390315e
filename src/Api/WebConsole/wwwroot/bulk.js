// Bulk decisions in the inbox: approve or reject the selected requests with one note or reason. The server decides
// each request on its own (every guard applies to each) and answers with the outcome of each, which is shown here.
import { approvals } from './api.js';
import { h, showModal } from './dom.js';

/** The most requests one submission may decide (the server refuses more). */
export const MAX_BULK = 50;

const KINDS = {
  approve: { field: 'notes', label: 'Notes for every request (optional)', button: 'Approve', cls: 'approve', done: 'Approved' },
  reject: { field: 'reason', label: 'Reason for every request (required)', button: 'Reject', cls: 'reject', done: 'Rejected' },
};

/** Opens the dialog for a bulk decision on `selected` (approvals); `onDone` gets the server's answer. */
export function openBulkDialog(kind, selected, onDone) {
  const d = KINDS[kind];
  const count = `${selected.length} ${selected.length === 1 ? 'request' : 'requests'}`;
  const text = h('textarea', { id: 'bulk-text', name: d.field, rows: 3, 'aria-describedby': 'bulk-error' });
  const error = h('div', { class: 'alert', role: 'alert', id: 'bulk-error' });
  const submit = h('button', { type: 'submit', class: d.cls, id: 'bulk-submit' }, `${d.button} ${count}`);
  const dialog = h('dialog', { 'aria-labelledby': 'bulk-title', id: 'bulk-dialog' });
  const form = h('form', { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    text.removeAttribute('aria-invalid');
    submit.disabled = true;
    try {
      const answer = await approvals.bulk({ decision: kind, ids: selected.map(a => a.id), [d.field]: text.value });
      dialog.close();
      onDone(answer);
    } catch (err) {
      error.textContent = err.message;
      if (err.status === 400) text.setAttribute('aria-invalid', 'true');
      text.focus();
    } finally {
      submit.disabled = false;
    }
  } },
  h('ul', { class: 'bulk-list' }, selected.map(a => h('li', {}, a.action_name))),
  h('label', { for: text.id }, d.label), text, error,
  h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')));
  dialog.append(h('h2', { id: 'bulk-title' }, `${d.button} ${count}`),
    h('p', { class: 'hint' }, 'Each request is decided on its own; the outcome of each is shown afterwards.'), form);
  showModal(dialog, text);
}

/** What happened to one request, in words. */
export function outcomeText(result, decision) {
  switch (result.outcome) {
    case 'decided': return KINDS[decision].done;
    case 'voted': return result.detail ?? 'Your approval was counted; more approvals are needed.';
    case 'already_decided': return `Not changed: ${result.detail ?? `already ${result.status}`}`;
    case 'not_allowed': return `Not allowed: ${result.detail ?? 'you may not decide this request'}`;
    default: return 'Not found';
  }
}

/** The outcome of a bulk decision: totals, then one line per request (named as the inbox showed it). */
export function bulkResults(answer, names) {
  const t = answer.totals;
  const summary = [
    `${t.decided} ${answer.decision === 'approve' ? 'approved' : 'rejected'}`,
    t.voted ? `${t.voted} counted towards a quorum` : null,
    t.already_decided ? `${t.already_decided} already decided` : null,
    t.not_allowed ? `${t.not_allowed} not allowed` : null,
    t.not_found ? `${t.not_found} not found` : null,
  ].filter(Boolean).join(' · ');
  return h('section', { class: 'card bulk-results', id: 'bulk-results', 'aria-labelledby': 'bulk-results-title', role: 'status' },
    h('h2', { id: 'bulk-results-title' }, 'Bulk decision: ', summary),
    h('ul', {}, answer.results.map(r => h('li', { class: `bulk-${r.outcome}`, dataset: { id: r.id, outcome: r.outcome } },
      h('a', { href: `/approvals/${r.id}`, 'data-link': '' }, names.get(r.id) ?? r.action_name ?? r.id), ': ', outcomeText(r, answer.decision)))));
}
