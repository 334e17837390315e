// One request: what the agent wants to do, its context, the full event trail, and the three decisions.
import { approvals, grants } from './api.js';
import { allowed, decisionForm, resumeDecision } from './decide.js';
import { reassignSection } from './reassign.js';
import { errorBox, h, replace, skeleton, toast, typingTarget, watchPage } from './dom.js';
import { agentLabel, formatCost, formatDateTime, isOpen, prettyJson, statusLabel, updateCountdowns } from './format.js';

const EVENT_TEXT = {
  created: 'Requested', approved: 'Approved', rejected: 'Rejected', info_requested: 'Asked for more information',
  info_provided: 'Agent answered', cancelled: 'Cancelled', expired: 'Expired at its deadline', reminder_sent: 'Reminder sent',
  escalated: 'Escalated', message_posted: 'Message posted', message_updated: 'Message updated',
  grant_created: 'Gave a standing grant', grant_revoked: 'Revoked the standing grant', voted: 'Voted', reassigned: 'Reassigned',
};

export function renderRequest(main, { params }) {
  const id = params[0];
  let approval = null;
  let allowance = null;
  const drafts = {};
  const reassignDraft = {};
  const announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
  replace(main, h('p', { class: 'crumbs' }, h('a', { href: '/inbox', 'data-link': '' }, '← Inbox')), skeleton(6));

  async function load() {
    try {
      const next = await approvals.get(id);
      const changed = approval && approval.version !== next.version;
      // Whether the approve form may offer a grant; without an answer it simply offers none.
      allowance = isOpen(next) ? await grants.allowance(id).catch(() => null) : null;
      const first = approval === null;
      approval = next;
      render();
      if (first) resumeDecision(approval, decided, (error) => toast(error.message));
      if (changed) announcer.textContent = `This request is now ${statusLabel(approval.status)}.`;
    } catch (error) {
      replace(main, h('p', { class: 'crumbs' }, h('a', { href: '/inbox', 'data-link': '' }, '← Inbox')),
        error.status === 404 || error.status === 400
          ? h('div', { class: 'card empty' }, h('strong', {}, 'No such request'), h('p', {}, error.message))
          : errorBox(error, load));
    }
  }

  function render() {
    for (const el of main.querySelectorAll('.decide textarea, .decide input')) drafts[el.id] = el.type === 'radio' ? el.checked : el.value;
    const a = approval;
    document.title = `${a.action_name} · Agent Sentinel`;
    const facts = [
      ['Agent', agentLabel(a)], ['Run', a.run_id], ['Task', a.task_id], ['Mission', a.mission_id],
      ['Estimated cost', formatCost(a.estimated_cost)], ['Risk', a.risk_level ?? 'unspecified'], ['Priority', a.priority],
      ['Requested', formatDateTime(a.created_at)], ['Deadline', formatDateTime(a.expires_at)], ['Route', a.route],
      ['Approvers', a.approvers.length ? a.approvers.join(', ') : 'anyone with an approver key'], ['Id', a.id],
    ];
    replace(main,
      h('p', { class: 'crumbs' }, h('a', { href: '/inbox', 'data-link': '' }, '← Inbox')),
      h('article', { class: 'stack', 'aria-labelledby': 'request-title' },
        h('section', { class: 'card' },
          h('div', { class: 'title-line' },
            h('h1', { id: 'request-title' }, a.action_name),
            h('span', { class: `badge p-${a.priority}` }, a.priority),
            h('span', { class: `badge s-${a.status}`, id: 'request-status' }, statusLabel(a.status)),
            isOpen(a) ? h('span', { class: 'countdown', dataset: { deadline: a.expires_at }, id: 'request-countdown' }) : null),
          a.action_description
            ? h('p', { class: 'description', id: 'request-description' }, a.action_description)
            : h('p', { class: 'muted', id: 'request-description' }, 'The agent gave no description.')),
        outcome(a),
        quorumSection(a),
        isOpen(a) ? decideSection(a) : null,
        allowed(a, 'approve') ? reassignSection(a, reassignDraft, reassigned) : null,
        h('section', { class: 'card', 'aria-labelledby': 'facts-title' }, h('h2', { id: 'facts-title' }, 'Details'),
          h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v ?? '—'))))),
        h('div', { class: 'grid cols-2' },
          jsonCard('Action inputs', 'inputs', a.action_inputs),
          jsonCard('Context', 'context', a.context)),
        h('section', { class: 'card', 'aria-labelledby': 'trail-title' }, h('h2', { id: 'trail-title' }, 'Event trail'),
          h('ol', { class: 'trail', id: 'trail' }, a.events.map(eventItem)))),
      announcer);
    for (const el of main.querySelectorAll('.decide textarea, .decide input')) {
      if (!(el.id in drafts)) continue;
      if (el.type === 'radio') el.checked = drafts[el.id]; else el.value = drafts[el.id];
    }
    tick();
  }

  function outcome(a) {
    if (a.status === 'approved' || a.status === 'rejected') {
      return h('section', { class: `card decision-summary ${a.status}`, id: 'decision-summary' },
        h('h2', {}, a.status === 'approved' ? (a.grant_id ? 'Approved by grant' : 'Approved') : 'Rejected'),
        h('p', {}, 'By ', h('strong', {}, a.decided_by_email ?? a.decided_by_user_id ?? 'unknown'), ' on ', formatDateTime(a.decided_at),
          a.decided_via ? [' from ', h('span', { class: 'surface' }, a.decided_via)] : null, '.'),
        a.decision_notes ? h('p', { class: 'description' }, a.decision_notes) : null);
    }
    if (a.status === 'expired') return h('section', { class: 'card decision-summary', id: 'decision-summary' }, h('h2', {}, 'Expired'), h('p', {}, 'Nobody decided before the deadline, so the agent was told no.'));
    if (a.status === 'cancelled') return h('section', { class: 'card decision-summary', id: 'decision-summary' }, h('h2', {}, 'Cancelled'), h('p', {}, 'The agent withdrew this request.'));
    if (a.info_request_message) {
      return h('section', { class: 'card decision-summary' }, h('h2', {}, a.status === 'info_requested' ? 'Waiting for the agent' : 'Question answered'),
        h('p', {}, h('strong', {}, 'Question: '), a.info_request_message),
        a.info_response ? h('p', {}, h('strong', {}, 'Answer: '), a.info_response) : null);
    }
    return null;
  }

  function decided(updated, d) {
    const counted = updated.quorum && isOpen(updated) && d.action === 'approve';
    toast(counted ? `Your approval was counted: ${updated.quorum.summary}.`
      : updated.grant ? `${d.done}, with a standing grant until ${formatDateTime(updated.grant.expires_at)}.` : `${d.done}.`);
    for (const key of Object.keys(drafts)) delete drafts[key];
    main.querySelectorAll('.decide textarea, .decide input[type=number]').forEach(el => { el.value = ''; });
    approval = { ...approval, ...updated, events: approval.events };
    load();
  }

  function reassigned(updated) {
    toast(`Reassigned to ${updated.reassigned_to?.target ?? 'its new place'}.`);
    approval = { ...approval, ...updated, events: approval.events };
    load();
  }

  function decideSection(a) {
    const kinds = ['approve', 'reject', 'info'].filter(k => allowed(a, k));
    if (kinds.length === 0) return null;
    return h('section', { class: 'card', 'aria-labelledby': 'decide-title' }, h('h2', { id: 'decide-title' }, 'Decide'),
      h('div', { class: 'decide' }, kinds.map(k => decisionForm(a, k, decided, 'decide', allowance).form)),
      h('p', { class: 'shortcuts' }, h('kbd', {}, 'a'), ', ', h('kbd', {}, 'r'), ' and ', h('kbd', {}, 'i'), ' jump to the approve, reject and question fields.'));
  }

  // Past its deadline the request is expired: read it again.
  const tick = () => updateCountdowns(main, () => setTimeout(load, 500));

  function onKey(e) {
    if (typingTarget(e) || !approval) return;
    const kind = { a: 'approve', r: 'reject', i: 'info' }[e.key];
    const field = kind && document.getElementById(`decide-${kind}-text`);
    if (!field) return;
    e.preventDefault();
    field.focus();
  }

  load();
  return watchPage({ tick, onKey, onChanged: (e) => { if (e.detail.all || e.detail.ids.includes(id)) load(); } });
}

// A quorum route: the progress line every surface shows, and each vote (who, how, when, from where, notes).
function quorumSection(a) {
  if (!a.quorum) return null;
  return h('section', { class: 'card', 'aria-labelledby': 'quorum-title', id: 'quorum' },
    h('h2', { id: 'quorum-title' }, 'Approvals needed'),
    h('p', { id: 'quorum-summary' }, a.quorum.summary),
    a.votes.length ? h('ul', { class: 'votes', id: 'votes' }, a.votes.map(v => h('li', {},
      h('strong', {}, v.email ?? v.name), v.choice === 'reject' ? ' rejected' : ' approved', ' on ', formatDateTime(v.at),
      ' from ', h('span', { class: 'surface' }, v.surface), v.notes ? [': ', v.notes] : null))) : null);
}

function jsonCard(title, id, value) {
  const text = prettyJson(value);
  return h('section', { class: 'card', 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title),
    text ? h('pre', { class: 'json', id: `request-${id}`, tabindex: '0' }, text) : h('p', { class: 'muted' }, 'None given.'));
}

function eventItem(event) {
  const details = event.details && typeof event.details === 'object'
    ? Object.entries(event.details).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')
    : event.details ? String(event.details) : null;
  return h('li', {},
    h('time', { datetime: event.at }, formatDateTime(event.at)),
    h('div', {}, h('span', { class: 'what' }, EVENT_TEXT[event.kind] ?? event.kind.replace(/_/g, ' ')),
      event.actor ? [' by ', event.actor] : null, ' ', h('span', { class: 'surface' }, event.surface)),
    details ? h('div', { class: 'details' }, details) : null);
}

