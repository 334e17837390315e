// Standing grants: who gave which agent a standing approval, how much of it is used, and Revoke for those who may.
import { currentSession, grants } from './api.js';
import { emptyState, errorBox, h, replace, skeleton, toast, watchPage } from './dom.js';
import { formatCost, formatDateTime } from './format.js';

const STATE_TEXT = { active: 'active', revoked: 'revoked', expired: 'expired', used_up: 'used up', spent: 'cost limit reached' };

/** The server's rule (GrantService.MayRevoke), used here only to decide whether to show the button: an admin, or the
 * person who gave the grant (the same key, or the same email). The server checks again and refuses anyone else. */
export function mayRevoke(session, grant) {
  if (!session) return false;
  const sameEmail = session.email && grant.created_by_email && session.email.toLowerCase() === grant.created_by_email.toLowerCase();
  return session.is_admin || session.key_id === grant.created_by_key_id || Boolean(sameEmail);
}

export function renderGrants(main) {
  let state = 'active';
  const list = h('div', { id: 'grants-list' }, skeleton(3));
  const filter = h('select', { id: 'grants-state', onchange: () => { state = filter.value; load(); } },
    h('option', { value: 'active' }, 'Active grants'), h('option', { value: 'all' }, 'All grants'));
  replace(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Standing grants'),
      h('p', { class: 'muted' }, 'Given with an approval: matching requests from the same agent are approved at once until the grant\'s time, use or cost limit, or until it is revoked. The person who gave a grant, or an admin, can revoke it.')),
      h('div', {}, h('label', { for: 'grants-state' }, 'Show'), filter)),
    h('section', { class: 'card', 'aria-labelledby': 'grants-title' }, h('h2', { id: 'grants-title', class: 'sr-only' }, 'Grants'), list));

  async function load() {
    try {
      const { items } = await grants.list(state);
      if (items.length === 0) { replace(list, emptyState('∅', state === 'active' ? 'No active grants' : 'No grants yet')); return; }
      const session = currentSession();
      replace(list, h('div', { class: 'table-wrap' }, h('table', { id: 'grants-table' },
        h('caption', { class: 'sr-only' }, 'Standing grants'),
        h('thead', {}, h('tr', {}, ['Action', 'Agent', 'Matches', 'Given by', 'Until', 'Uses', 'Cost', 'State', 'Given with', ''].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map(g => h('tr', { dataset: { id: g.id }, class: g.state === 'active' ? '' : 'revoked' },
          h('td', { class: 'mono' }, g.action_name),
          h('td', {}, g.agent_id ?? '—'),
          h('td', {}, g.match === 'action' ? 'same action' : 'same action and inputs'),
          h('td', {}, g.created_by_email ?? g.created_by_key_id),
          h('td', {}, formatDateTime(g.expires_at)),
          h('td', {}, g.max_uses ? `${g.uses} of ${g.max_uses}` : `${g.uses} (no limit)`),
          h('td', {}, g.max_total_cost !== null && g.max_total_cost !== undefined ? `${formatCost(g.cost_used)} of ${formatCost(g.max_total_cost)}` : `${formatCost(g.cost_used)} (no limit)`),
          h('td', {}, STATE_TEXT[g.state] ?? g.state, g.revoked_by ? ` by ${g.revoked_by}` : null),
          h('td', {}, h('a', { href: `/approvals/${encodeURIComponent(g.source_approval_id)}`, 'data-link': '' }, 'the approval')),
          h('td', {}, g.state === 'active' && mayRevoke(session, g)
            ? h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke the grant for ${g.action_name} given by ${g.created_by_email ?? g.created_by_key_id}`, onclick: () => revoke(g) }, 'Revoke')
            : null)))))));
    } catch (error) {
      replace(list, errorBox(error, load));
    }
  }

  async function revoke(grant) {
    if (!window.confirm(`Revoke the grant for “${grant.action_name}”? The agent's next matching request will wait for a person again.`)) return;
    try {
      await grants.revoke(grant.id);
      toast(`Revoked the grant for ${grant.action_name}.`);
    } catch (error) {
      toast(error.message);
    }
    load();
  }

  load();
  // A grant used at intake approves a request: the live feed says so, and the counts are read again.
  return watchPage({ onChanged: () => load() });
}
