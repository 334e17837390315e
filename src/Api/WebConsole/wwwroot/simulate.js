// The comparison an admin sees before saving routes or policy: how the requests of the last days would have been
// treated under the settings in force and under the edited ones (POST /api/v1/admin/policy/simulate).
import { h } from './dom.js';

const ASPECTS = {
  requires_approval: 'need approval',
  priority: 'priority (floors)',
  risk_level: 'risk level (floors)',
  route: 'route',
  approvers: 'approvers',
  grants: 'standing grants',
};

const MAX_LISTED = 25;

const yesNo = (b) => (b ? 'yes' : 'no');
const list = (items) => (items.length ? items.join(', ') : 'none');

/** One line per difference of a request: “route: default → payments”. */
function changeText(item) {
  const c = item.current;
  const n = item.candidate;
  return item.changed.map((aspect) => {
    switch (aspect) {
      case 'requires_approval': return `needs approval: ${yesNo(c.requires_approval)} → ${yesNo(n.requires_approval)}`;
      case 'priority': return `priority: ${c.priority} → ${n.priority}`;
      case 'risk_level': return `risk: ${c.risk_level ?? 'none'} → ${n.risk_level ?? 'none'}`;
      case 'route': return `route: ${c.route ?? 'none'} → ${n.route ?? 'none'}`;
      case 'approvers': return `approvers: ${list(c.approvers)} → ${list(n.approvers)}`;
      default: return `grants: ${c.grants.length} → ${n.grants.length}`;
    }
  }).join('; ');
}

export function simulationView(sim, field) {
  const routes = [...new Set([...Object.keys(sim.current.by_route), ...Object.keys(sim.candidate.by_route)])].sort();
  const row = (label, now, then) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', { class: 'num' }, String(now)), h('td', { class: 'num' }, String(then)));
  const changed = sim.differences.any;
  return h('section', { class: 'simulation', 'aria-labelledby': `${field}-simulation-title` },
    h('h3', { id: `${field}-simulation-title` }, `Last ${sim.days} days: ${sim.requests} ${sim.requests === 1 ? 'request' : 'requests'}${sim.truncated ? ' (the newest only)' : ''}`),
    h('div', { class: 'table-wrap' }, h('table', { class: 'simulation-totals' },
      h('caption', { class: 'sr-only' }, 'Totals under the settings in force and under the edited ones'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col', class: 'num' }, 'In force'), h('th', { scope: 'col', class: 'num' }, 'Edited'))),
      h('tbody', {},
        row('Need approval', sim.current.requires_approval, sim.candidate.requires_approval),
        row('Approved by a standing grant', sim.current.grant_matched, sim.candidate.grant_matched),
        routes.map(r => row(`Route ${r}`, sim.current.by_route[r] ?? 0, sim.candidate.by_route[r] ?? 0))))),
    h('p', { class: 'simulation-summary' }, changed === 0
      ? 'No request of the period would have been treated differently.'
      : `${changed} ${changed === 1 ? 'request' : 'requests'} would have been treated differently: `
        + Object.entries(ASPECTS).filter(([k]) => sim.differences[k] > 0).map(([k, label]) => `${sim.differences[k]} ${label}`).join(', ') + '.'),
    sim.items.length ? h('ul', { class: 'simulation-items' }, sim.items.slice(0, MAX_LISTED).map(item => h('li', { dataset: { id: item.id } },
      h('a', { href: `/approvals/${item.id}`, 'data-link': '' }, item.action_name), item.agent_id ? ` (${item.agent_id})` : '', ': ', changeText(item)))) : null,
    sim.items.length > MAX_LISTED ? h('p', { class: 'hint' }, `and ${sim.items.length - MAX_LISTED} more.`) : null);
}
