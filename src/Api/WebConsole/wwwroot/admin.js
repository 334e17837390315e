// Administration (admin keys only): API keys, routes, policy, chat deliveries that failed, and the job dashboard.
import { api } from './api.js';
import { emptyState, errorBox, h, replace, skeleton, toast } from './dom.js';
import { formatDateTime } from './format.js';
import { simulationView } from './simulate.js';

const SCOPES = ['agent', 'approver', 'admin'];

export function renderAdmin(main) {
  const keys = h('div', { id: 'admin-keys' }, skeleton(3));
  const routes = h('div', { id: 'admin-routes' }, skeleton(2));
  const policy = h('div', { id: 'admin-policy' }, skeleton(2));
  const deliveries = h('div', { id: 'admin-deliveries' }, skeleton(2));
  replace(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Administration'), h('p', { class: 'muted' }, 'Every change is recorded with who made it.'))),
    h('div', { class: 'stack' },
      h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'API keys'), keyForm(), keys),
      h('section', { class: 'card', 'aria-labelledby': 'routes-title' }, h('h2', { id: 'routes-title' }, 'Routes'),
        h('p', { class: 'muted' }, 'The first matching route wins; a route without match conditions is the default and goes last.'), routes),
      h('section', { class: 'card', 'aria-labelledby': 'policy-title' }, h('h2', { id: 'policy-title' }, 'Policy'), policy),
      h('section', { class: 'card', 'aria-labelledby': 'deliveries-title' }, h('h2', { id: 'deliveries-title' }, 'Failed chat deliveries'),
        h('p', { class: 'muted' }, 'Messages Slack or Teams refused for good (the channel is gone, the bot is not in it, the message was refused). Fix the cause, then retry.'),
        deliveries),
      h('section', { class: 'card', 'aria-labelledby': 'jobs-title' }, h('h2', { id: 'jobs-title' }, 'Background jobs'),
        h('p', { class: 'muted' }, 'Queues, scheduled and failed jobs, and servers, in the job dashboard (read-only; admin sessions only).'),
        h('p', {}, h('a', { id: 'jobs-dashboard-link', href: '/hangfire' }, 'Open the job dashboard')))));

  /** Failed deliveries, newest first, a page at a time; each can be sent again. */
  async function loadDeliveries(cursor = null, rows = []) {
    try {
      const page = await api(`/api/v1/admin/deliveries?${new URLSearchParams({ state: 'failed', limit: '50', ...(cursor ? { cursor } : {}) })}`);
      const all = rows.concat(page.items);
      if (all.length === 0) { replace(deliveries, emptyState('✓', 'No failed deliveries')); return; }
      replace(deliveries, h('div', { class: 'table-wrap' }, h('table', { id: 'deliveries-table' },
        h('caption', { class: 'sr-only' }, 'Failed chat deliveries'),
        h('thead', {}, h('tr', {}, ['Request', 'Surface', 'Channel', 'Message', 'Attempts', 'Last answer', 'Since', ''].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, all.map(d => h('tr', { dataset: { id: String(d.id) } },
          h('td', {}, h('a', { href: `/approvals/${encodeURIComponent(d.approval_id)}`, 'data-link': '' }, d.action_name || d.approval_id)),
          h('td', {}, d.surface), h('td', { class: 'mono' }, d.channel), h('td', { class: 'mono' }, d.delivery_key),
          h('td', {}, String(d.attempts)), h('td', {}, d.last_error ?? '—'), h('td', {}, formatDateTime(d.updated_at)),
          h('td', {}, h('button', { type: 'button', 'aria-label': `Retry the ${d.surface} message of ${d.action_name || d.approval_id}`, onclick: () => retry(d) }, 'Retry'))))))),
        page.next_cursor ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => loadDeliveries(page.next_cursor, all) }, 'Show more')) : null);
    } catch (error) {
      replace(deliveries, errorBox(error, () => loadDeliveries()));
    }
  }

  async function retry(delivery) {
    try {
      await api(`/api/v1/admin/deliveries/${encodeURIComponent(delivery.id)}/retry`, { method: 'POST' });
      toast(`Sending the ${delivery.surface} message again.`);
      loadDeliveries();
    } catch (error) {
      toast(error.message);
    }
  }

  async function loadKeys() {
    try {
      const list = await api('/api/v1/admin/api-keys');
      if (list.length === 0) { replace(keys, emptyState('∅', 'No stored keys')); return; }
      replace(keys, h('div', { class: 'table-wrap' }, h('table', { id: 'keys-table' },
        h('caption', { class: 'sr-only' }, 'API keys'),
        h('thead', {}, h('tr', {}, ['Name', 'Key', 'Scopes', 'Agent ids', 'Email', 'Created', 'Status', ''].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.map(k => h('tr', { class: k.revoked_at ? 'revoked' : '', dataset: { id: k.id } },
          h('td', {}, k.name), h('td', { class: 'mono' }, `${k.prefix}…`), h('td', {}, k.scopes.join(', ')),
          h('td', { class: 'mono' }, k.agent_ids?.length ? k.agent_ids.join(', ') : '—'), h('td', {}, k.email ?? '—'),
          h('td', {}, formatDateTime(k.created_at)), h('td', {}, k.revoked_at ? `revoked ${formatDateTime(k.revoked_at)}` : 'active'),
          h('td', {}, k.revoked_at ? null : h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${k.name}`, onclick: () => revoke(k) }, 'Revoke'))))))));
    } catch (error) {
      replace(keys, errorBox(error, loadKeys));
    }
  }

  async function revoke(key) {
    if (!window.confirm(`Revoke the key “${key.name}”? Agents and people using it stop working at once, and its console sessions end.`)) return;
    try {
      await api(`/api/v1/admin/api-keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
      toast(`Revoked ${key.name}.`);
      loadKeys();
    } catch (error) {
      toast(error.message);
    }
  }

  function keyForm() {
    const name = h('input', { type: 'text', id: 'key-name', name: 'name', maxlength: '100' });
    const email = h('input', { type: 'email', id: 'key-email', name: 'email', maxlength: '254' });
    const agentIds = h('input', { type: 'text', id: 'key-agent-ids', name: 'agent_ids', placeholder: 'billing-agent, billing-*', 'aria-describedby': 'key-agent-ids-hint' });
    const scopes = SCOPES.map(s => h('label', {}, h('input', { type: 'checkbox', name: 'scopes', value: s, checked: s === 'approver' }), s));
    const result = h('div', { id: 'key-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'key-form', novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      result.replaceChildren();
      try {
        const created = await api('/api/v1/admin/api-keys', { method: 'POST', body: {
          name: name.value, email: email.value.trim() || null, scopes: SCOPES.filter((_, i) => scopes[i].firstChild.checked),
          agent_ids: agentIds.value.split(',').map(v => v.trim()).filter(v => v.length > 0),
        } });
        const code = h('code', { id: 'new-key' }, created.key);
        replace(result, h('div', { class: 'alert ok', role: 'status' },
          h('strong', {}, `Key created for ${created.name}. `), 'Copy it now: it is shown only this once.',
          h('div', { class: 'secret' }, code, h('button', { type: 'button', onclick: async () => {
            try { await navigator.clipboard.writeText(created.key); toast('Copied.'); } catch { toast('Select the key and copy it.'); }
          } }, 'Copy'))));
        form.reset();
        loadKeys();
      } catch (error) {
        replace(result, h('div', { class: 'alert', role: 'alert' }, error.message));
      }
    } },
    h('div', { class: 'grid cols-3' },
      h('div', {}, h('label', { for: 'key-name' }, 'Name'), name),
      h('div', {}, h('label', { for: 'key-email' }, 'Email (who decides with it)'), email),
      h('fieldset', { class: 'scopes-field' }, h('legend', {}, 'Scopes'), h('div', { class: 'scopes' }, scopes)),
      h('div', {}, h('label', { for: 'key-agent-ids' }, 'Agent ids (agent keys)'), agentIds,
        h('p', { class: 'hint', id: 'key-agent-ids-hint' }, 'The agent_id values requests made with this key may claim, comma-separated; * and ? match patterns. Empty: only the key\'s name.'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create key')),
    result);
    return form;
  }

  /** A JSON document edited as text, saved with If-Match so two admins cannot overwrite each other. Before a change
   * is saved, the page shows how the requests of the last 30 days would have been treated under it (the first Save
   * compares; Save again, with the text unchanged, applies). */
  async function loadDocument(box, path, field) {
    try {
      const doc = await api(path);
      const text = h('textarea', { class: 'code', id: `${field}-json`, spellcheck: 'false', 'aria-describedby': `${field}-errors`, 'aria-label': `${field} as JSON` },
        JSON.stringify(doc[field], null, 2));
      const errors = h('div', { id: `${field}-errors`, 'aria-live': 'polite' });
      const comparison = h('div', { id: `${field}-simulation`, 'aria-live': 'polite' });
      let compared = null;
      text.addEventListener('input', () => { compared = null; });
      let version = doc.version;
      const info = h('p', { class: 'hint' }, `Version ${version}, from ${doc.source}.`);
      replace(box, h('form', { novalidate: true, onsubmit: async (e) => {
        e.preventDefault();
        errors.replaceChildren();
        text.removeAttribute('aria-invalid');
        let value;
        try {
          value = JSON.parse(text.value);
        } catch (err) {
          text.setAttribute('aria-invalid', 'true');
          replace(errors, h('div', { class: 'alert', role: 'alert' }, `This is not valid JSON: ${err.message}`));
          return;
        }
        if (compared !== text.value || e.submitter?.dataset.compare === 'yes') {
          try {
            const simulation = await api('/api/v1/admin/policy/simulate', { method: 'POST', body: { [field]: value, days: 30 } });
            compared = text.value;
            replace(comparison, simulationView(simulation, field));
            replace(errors, h('div', { class: 'alert warn', role: 'status' }, `Compare the ${field} with the requests of the last 30 days below; press “Save ${field}” again to apply them.`));
          } catch (error) {
            text.setAttribute('aria-invalid', 'true');
            comparison.replaceChildren();
            replace(errors, h('div', { class: 'alert', role: 'alert' }, h('strong', {}, error.message),
              error.errors.length ? h('ul', {}, error.errors.map(m => h('li', {}, m))) : null));
          }
          return;
        }
        try {
          const saved = await api(path, { method: 'PUT', body: { [field]: value }, headers: { 'If-Match': `"${version}"` } });
          version = saved.version;
          info.textContent = `Version ${version}, from ${saved.source}.`;
          compared = null;
          comparison.replaceChildren();
          replace(errors, h('div', { class: 'alert ok', role: 'status' }, `Saved as version ${version}.`));
        } catch (error) {
          text.setAttribute('aria-invalid', 'true');
          replace(errors, h('div', { class: 'alert', role: 'alert' }, h('strong', {}, error.message),
            error.errors.length ? h('ul', {}, error.errors.map(m => h('li', {}, m))) : null));
        }
      } }, text, info, errors, h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', id: `${field}-save` }, `Save ${field}`),
        h('button', { type: 'submit', id: `${field}-compare`, dataset: { compare: 'yes' } }, 'Compare with the last 30 days')), comparison));
    } catch (error) {
      replace(box, errorBox(error, () => loadDocument(box, path, field)));
    }
  }

  loadKeys();
  loadDocument(routes, '/api/v1/admin/routes', 'routes');
  loadDocument(policy, '/api/v1/admin/policy', 'policy');
  loadDeliveries();
}
