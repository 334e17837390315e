// The three decisions, as used by the inbox's dialog and the request page's forms.
import { approvals } from './api.js';
import { h } from './dom.js';

export const DECISIONS = {
  approve: { action: 'approve', field: 'notes', title: 'Approve', label: 'Notes (optional)', button: 'Approve', cls: 'approve', done: 'Approved' },
  reject: { action: 'reject', field: 'reason', title: 'Reject', label: 'Reason (required)', button: 'Reject', cls: 'reject', done: 'Rejected' },
  info: { action: 'request-info', field: 'question', title: 'Request info', label: 'Question for the agent (required)', button: 'Ask the agent', cls: 'primary', done: 'Question sent' },
};

/** May this decision be made now? Request info only from pending; approve and reject while open. */
export function allowed(approval, kind) {
  const open = approval.status === 'pending' || approval.status === 'info_requested';
  const beforeDeadline = new Date(approval.expires_at).getTime() > Date.now();
  return open && beforeDeadline && (kind !== 'info' || approval.status === 'pending');
}

/** Sends the decision; the server checks required texts, deadlines and who may decide, and its answer is shown. */
export function submitDecision(approval, kind, text) {
  const d = DECISIONS[kind];
  return approvals.decide(approval.id, d.action, { [d.field]: text });
}

/** A form for one decision; `onDecided` gets the updated approval. */
export function decisionForm(approval, kind, onDecided, idPrefix = 'decide') {
  const d = DECISIONS[kind];
  const id = `${idPrefix}-${kind}`;
  const text = h('textarea', { id: `${id}-text`, name: d.field, rows: 3, 'aria-describedby': `${id}-error` });
  const error = h('div', { class: 'alert', role: 'alert', id: `${id}-error` });
  const button = h('button', { type: 'submit', class: d.cls, id: `${id}-submit` }, d.button);
  const form = h('form', { id, novalidate: true, 'aria-label': d.title, onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    text.removeAttribute('aria-invalid');
    button.disabled = true;
    try {
      const updated = await submitDecision(approval, kind, text.value);
      onDecided(updated, d);
    } catch (err) {
      error.textContent = err.message;
      if (err.status === 400) text.setAttribute('aria-invalid', 'true');
      text.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h('label', { for: text.id }, d.label), text, error, h('div', { class: 'actions' }, button));
  return { form, text };
}

/** A modal dialog for one decision (keyboard shortcuts in the inbox). Focus returns where it was. */
export function openDecisionDialog(approval, kind, onDecided) {
  const before = document.activeElement;
  const d = DECISIONS[kind];
  const dialog = h('dialog', { 'aria-labelledby': 'decision-title', id: 'decision-dialog' });
  const { form, text } = decisionForm(approval, kind, (updated, decision) => {
    dialog.close();
    onDecided(updated, decision);
  }, 'dialog');
  form.querySelector('.actions').append(h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'));
  dialog.append(h('h2', { id: 'decision-title' }, `${d.title}: `, approval.action_name), form);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (before instanceof HTMLElement) before.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  text.focus();
}
