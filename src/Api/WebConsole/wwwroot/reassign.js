// Hand an open request to another approver (who becomes its one approver) or to a Slack or Teams channel. The server
// decides who may do it and to whom (POST /api/v1/approvals/{id}/reassign, the rule every surface uses); its refusal
// is shown under the form.
import { approvals } from './api.js';
import { h } from './dom.js';

const TARGETS = {
  to_email: { label: 'Approver (email)', placeholder: 'name@example.com', type: 'email' },
  slack_channel: { label: 'Slack channel id', placeholder: 'C0123ABCD', type: 'text' },
  teams_channel: { label: 'Teams channel id', placeholder: '19:…@thread.tacv2', type: 'text' },
};

/** Where the request went last, in plain words (every part is text, never markup). */
export function reassignedText(r) {
  const where = r.target ?? r.person_email ?? (r.slack_channel ? `Slack channel ${r.slack_channel}` : `Teams channel ${r.teams_channel}`);
  return `Reassigned to ${where} by ${r.by}${r.on_behalf_of ? ` on behalf of ${r.on_behalf_of}` : ''}${r.note ? `: ${r.note}` : '.'}`;
}

/** The Reassign card of the request page. `draft` keeps what was typed across redraws; `onDone` gets the updated
 * approval. */
export function reassignSection(approval, draft, onDone) {
  draft.kind ??= 'to_email';
  const kind = h('select', { id: 'reassign-kind', name: 'kind', onchange: () => { draft.kind = kind.value; describe(); } },
    Object.entries(TARGETS).map(([value, t]) => h('option', { value, selected: value === draft.kind }, t.label)));
  const target = h('input', { type: 'text', id: 'reassign-target', name: 'target', autocomplete: 'off', value: draft.target ?? '', 'aria-describedby': 'reassign-error',
    oninput: () => { draft.target = target.value; } });
  const targetLabel = h('label', { for: target.id });
  const note = h('textarea', { id: 'reassign-note', name: 'note', rows: 2, maxlength: '2000', value: draft.note ?? '', oninput: () => { draft.note = note.value; } });
  const error = h('div', { class: 'alert', role: 'alert', id: 'reassign-error' });
  const button = h('button', { type: 'submit', class: 'primary', id: 'reassign-submit' }, 'Reassign');
  function describe() {
    const t = TARGETS[kind.value];
    targetLabel.textContent = t.label;
    target.type = t.type;
    target.placeholder = t.placeholder;
  }
  describe();
  const form = h('form', { id: 'reassign', novalidate: true, 'aria-label': 'Reassign', onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    target.removeAttribute('aria-invalid');
    note.removeAttribute('aria-invalid');
    button.disabled = true;
    const body = { [kind.value]: target.value.trim() };
    if (note.value.trim()) body.note = note.value.trim();
    try {
      const updated = await approvals.reassign(approval.id, body);
      for (const key of Object.keys(draft)) delete draft[key];
      onDone(updated);
    } catch (err) {
      error.textContent = err.message;
      const field = err.status === 400 && err.problem.field === 'note' ? note : target;
      if (err.status === 400) field.setAttribute('aria-invalid', 'true');
      field.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h('div', { class: 'grid cols-2' },
    h('div', {}, h('label', { for: kind.id }, 'Hand it to'), kind),
    h('div', {}, targetLabel, target)),
  h('label', { for: note.id }, 'Note (optional)'), note, error, h('div', { class: 'actions' }, button));
  return h('section', { class: 'card', 'aria-labelledby': 'reassign-title', id: 'reassign-card' },
    h('h2', { id: 'reassign-title' }, 'Reassign'),
    h('p', { class: 'muted' }, 'Hand this request to another approver, who becomes its one approver, or post it to another channel. Its messages say where it went and the trail records it.'),
    approval.reassigned_to ? h('p', { id: 'reassigned-to' }, reassignedText(approval.reassigned_to)) : null,
    form);
}
