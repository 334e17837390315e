// Away: the signed-in person's delegation while away (who decides for them, from when until when), set and ended through
// /api/v1/me/delegation with the server's rules and wording, and the people who delegated their decisions to them.
import { delegation } from './api.js';
import { emptyState, errorBox, h, replace, skeleton, toast } from './dom.js';
import { formatDateTime } from './format.js';

/** A datetime-local value (the person's own clock) as an ISO 8601 instant, or null when empty or unreadable. */
function instant(value) {
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

export function renderAway(main) {
  const current = h('div', { id: 'away-current' }, skeleton(1));
  const toMe = h('div', { id: 'away-to-me' }, skeleton(1));

  const delegate = h('input', { type: 'email', id: 'away-delegate', name: 'delegate_email', autocomplete: 'off', required: true, 'aria-describedby': 'away-error' });
  const from = h('input', { type: 'datetime-local', id: 'away-from', name: 'starts_at', 'aria-describedby': 'away-from-hint away-error' });
  const until = h('input', { type: 'datetime-local', id: 'away-until', name: 'ends_at', required: true, 'aria-describedby': 'away-error' });
  const error = h('div', { class: 'alert', role: 'alert', id: 'away-error' });
  const save = h('button', { type: 'submit', class: 'approve', id: 'away-save' }, 'Save delegation');
  const fields = { delegate_email: delegate, starts_at: from, ends_at: until };
  const form = h('form', { id: 'away-form', novalidate: true, 'aria-label': 'Set a delegation', onsubmit: submit },
    h('label', { for: delegate.id }, 'Delegate (the email of another approver)'), delegate,
    h('label', { for: from.id }, 'Away from (optional)'), from,
    h('p', { class: 'muted', id: 'away-from-hint' }, 'Empty: from now. Times are your own clock.'),
    h('label', { for: until.id }, 'Away until'), until,
    error, h('div', { class: 'actions' }, save));

  replace(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Away'),
      h('p', { class: 'muted' }, 'While you are away your delegate may decide what you could, on your behalf (never a request they made, and never a second vote in a quorum). Reminders and escalations that name you name them too. Delegations are not followed in chains.'))),
    h('section', { class: 'card', 'aria-labelledby': 'away-mine-title' }, h('h2', { id: 'away-mine-title' }, 'Your delegation'), current, form),
    h('section', { class: 'card', 'aria-labelledby': 'away-to-me-title' }, h('h2', { id: 'away-to-me-title' }, 'People who delegated to you'), toMe));

  async function submit(e) {
    e.preventDefault();
    error.replaceChildren();
    for (const input of Object.values(fields)) input.removeAttribute('aria-invalid');
    const body = { delegate_email: delegate.value.trim(), ends_at: instant(until.value) };
    if (from.value) body.starts_at = instant(from.value);
    if (!body.ends_at) {
      error.textContent = 'Choose when you are back (Away until).';
      until.setAttribute('aria-invalid', 'true');
      until.focus();
      return;
    }
    save.disabled = true;
    try {
      const saved = await delegation.set(body);
      toast(`${saved.delegate_email} decides for you until ${formatDateTime(saved.ends_at)}.`);
      form.reset();
      await load();
    } catch (err) {
      // The server's own sentence (past end, yourself, an unknown delegate, a chain), on the field it names.
      error.textContent = err.message;
      const field = fields[err.problem.field] ?? delegate;
      if (err.status >= 400 && err.status < 500) field.setAttribute('aria-invalid', 'true');
      field.focus();
    } finally {
      save.disabled = false;
    }
  }

  async function end() {
    try {
      await delegation.end();
      toast('Your delegation has ended.');
    } catch (err) {
      toast(err.message);
    }
    await load();
  }

  async function load() {
    try {
      const mine = await delegation.get();
      replace(current, h('div', { class: 'alert ok', role: 'status', id: 'away-summary' },
        h('strong', {}, mine.active ? 'You are away. ' : 'Away planned. '),
        `From ${formatDateTime(mine.starts_at)} until ${formatDateTime(mine.ends_at)}, ${mine.delegate_email} decides for you.`,
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', id: 'away-end', onclick: end }, 'End delegation'))));
      save.textContent = 'Replace delegation';
    } catch (err) {
      if (err.status === 404) {
        replace(current, h('p', { class: 'muted', id: 'away-summary' }, 'You have no delegation: requests wait for you.'));
        save.textContent = 'Save delegation';
      } else {
        replace(current, errorBox(err, load));
      }
    }
    try {
      const { items } = await delegation.toMe();
      replace(toMe, items.length === 0
        ? emptyState('∅', 'Nobody has delegated to you', 'When someone names you as their delegate, they appear here.')
        : h('ul', { class: 'plain-list', id: 'away-to-me-list' }, items.map(d => h('li', { dataset: { email: d.delegator_email } },
          h('strong', {}, d.delegator_email), d.active ? ' is away: ' : ' will be away: ',
          `you decide for them from ${formatDateTime(d.starts_at)} until ${formatDateTime(d.ends_at)}.`))));
    } catch (err) {
      replace(toMe, errorBox(err, load));
    }
  }

  load();
  return null;
}
