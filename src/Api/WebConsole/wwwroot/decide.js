// The three decisions, as used by the inbox's dialog and the request page's forms.
import { approvals } from './api.js';
import { h, showModal } from './dom.js';

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

const PENDING_KEY = 'agentsentinel.pending-decision';
const PENDING_LIFETIME_MS = 10 * 60 * 1000;

/** Sends the decision (with a grant when one is given); the server checks required texts, deadlines, who may decide
 * and what grant the request's route allows, and its answer is shown. When the request's route needs a recent
 * sign-in (step-up), the decision is kept in this tab and the person is sent through the identity provider again;
 * the request page completes it on return (once: a second refusal is shown). */
export async function submitDecision(approval, kind, text, grant = null, { stepUp = true } = {}) {
  const d = DECISIONS[kind];
  try {
    return await approvals.decide(approval.id, d.action, grant ? { [d.field]: text, grant } : { [d.field]: text });
  } catch (err) {
    const signIn = err.problem?.sign_in_url;
    if (stepUp && err.status === 403 && typeof signIn === 'string' && signIn.startsWith('/console/oidc/signin?')) {
      sessionStorage.setItem(PENDING_KEY, JSON.stringify({ id: approval.id, kind, text, grant, at: Date.now() }));
      location.assign(signIn);
      return new Promise(() => {}); // the page is leaving for the identity provider
    }
    throw err;
  }
}

/** Completes the decision the person made before the identity provider asked them to sign in again, if it was for
 * this request, is recent, and is still possible. `onDone` gets the updated approval, `onError` the refusal. */
export function resumeDecision(approval, onDone, onError) {
  const raw = sessionStorage.getItem(PENDING_KEY);
  if (!raw) return;
  sessionStorage.removeItem(PENDING_KEY);
  let pending = null;
  try { pending = JSON.parse(raw); } catch { return; }
  if (pending?.id !== approval.id || !DECISIONS[pending.kind] || !(Date.now() - pending.at < PENDING_LIFETIME_MS)) return;
  if (!allowed(approval, pending.kind)) return;
  submitDecision(approval, pending.kind, pending.text ?? '', pending.grant ?? null, { stepUp: false })
    .then((updated) => onDone(updated, DECISIONS[pending.kind]), onError);
}

/** The grant part of the approve form: shown only when the request's route allows a grant. Every field is optional;
 * no minutes (and no limits) means no grant. The server applies the one rule and words any refusal. */
function grantFields(id, allowance) {
  const minutes = h('input', { type: 'number', id: `${id}-grant-minutes`, name: 'grant_minutes', min: '1', max: String(allowance.max_minutes), step: '1', inputmode: 'numeric', 'aria-describedby': `${id}-grant-hint` });
  const uses = h('input', { type: 'number', id: `${id}-grant-uses`, name: 'grant_max_uses', min: '1', step: '1', inputmode: 'numeric' });
  const cost = h('input', { type: 'number', id: `${id}-grant-cost`, name: 'grant_max_total_cost', min: '0', step: '0.01', inputmode: 'decimal' });
  const match = [['action_and_inputs', 'Same action name and the same inputs'], ['action', 'Same action name']].map(([value, label], i) =>
    h('label', { class: 'choice' }, h('input', { type: 'radio', id: `${id}-grant-match-${value}`, name: `${id}-grant-match`, value, checked: i === 0 }), label));
  const fieldset = h('fieldset', { class: 'grant', id: `${id}-grant` },
    h('legend', {}, 'Standing grant (optional)'),
    h('p', { class: 'hint', id: `${id}-grant-hint` }, `Also approve matching requests from this agent for the next N minutes, at most K times, up to a total estimated cost. At most ${allowance.max_minutes} minutes for this request's route; leave the minutes empty for no grant.`),
    h('div', { class: 'grid cols-3' },
      h('div', {}, h('label', { for: minutes.id }, 'For the next N minutes'), minutes),
      h('div', {}, h('label', { for: uses.id }, 'At most K times'), uses),
      h('div', {}, h('label', { for: cost.id }, 'Up to a total cost of ($)'), cost)),
    h('div', { class: 'choices', role: 'radiogroup', 'aria-label': 'Match on' }, match));
  const value = () => {
    const given = [minutes, uses, cost].some(input => input.value.trim() !== '' || input.validity.badInput);
    if (!given) return null;
    const number = (input) => (input.value.trim() === '' && !input.validity.badInput ? undefined : Number(input.value === '' ? NaN : input.value));
    return {
      minutes: number(minutes), max_uses: number(uses), max_total_cost: number(cost),
      match: fieldset.querySelector('input[type=radio]:checked')?.value ?? 'action_and_inputs',
    };
  };
  return { fieldset, minutes, value };
}

/** A form for one decision; `onDecided` gets the updated approval. The approve form offers a grant when `allowance`
 * (from /api/v1/grants/allowance) allows one. */
export function decisionForm(approval, kind, onDecided, idPrefix = 'decide', allowance = null) {
  const d = DECISIONS[kind];
  const id = `${idPrefix}-${kind}`;
  const text = h('textarea', { id: `${id}-text`, name: d.field, rows: 3, 'aria-describedby': `${id}-error` });
  const error = h('div', { class: 'alert', role: 'alert', id: `${id}-error` });
  const button = h('button', { type: 'submit', class: d.cls, id: `${id}-submit` }, d.button);
  const grant = kind === 'approve' && allowance?.allowed ? grantFields(id, allowance) : null;
  const form = h('form', { id, novalidate: true, 'aria-label': d.title, onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    text.removeAttribute('aria-invalid');
    grant?.minutes.removeAttribute('aria-invalid');
    button.disabled = true;
    try {
      const updated = await submitDecision(approval, kind, text.value, grant?.value());
      onDecided(updated, d);
    } catch (err) {
      error.textContent = err.message;
      const field = grant && err.status === 400 && err.problem.field === 'grant' ? grant.minutes : text;
      if (err.status === 400) field.setAttribute('aria-invalid', 'true');
      field.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h('label', { for: text.id }, d.label), text, grant?.fieldset, error, h('div', { class: 'actions' }, button));
  return { form, text };
}

/** A modal dialog for one decision (keyboard shortcuts in the inbox). Focus returns where it was. */
export function openDecisionDialog(approval, kind, onDecided) {
  const d = DECISIONS[kind];
  const dialog = h('dialog', { 'aria-labelledby': 'decision-title', id: 'decision-dialog' });
  const { form, text } = decisionForm(approval, kind, (updated, decision) => {
    dialog.close();
    onDecided(updated, decision);
  }, 'dialog');
  form.querySelector('.actions').append(h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'));
  dialog.append(h('h2', { id: 'decision-title' }, `${d.title}: `, approval.action_name), form);
  showModal(dialog, text);
}
