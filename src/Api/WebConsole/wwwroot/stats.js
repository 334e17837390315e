// Statistics: headline figures, outcomes over time, time to decision, rates, counts by priority and risk, and the
// weekly digest when the server offers it, and the suggestions of the last 30 days.
import { api } from './api.js';
import { barList, columnChart, shareBar } from './charts.js';
import { emptyState, errorBox, h, replace, skeleton, watchPage } from './dom.js';
import { PRIORITIES, RISKS, formatDay, formatDuration, formatPercent } from './format.js';

const RANGES = [[7, '7 days'], [30, '30 days'], [90, '90 days']];
const OUTCOMES = [['approved', 'Approved'], ['rejected', 'Rejected'], ['expired', 'Expired'], ['cancelled', 'Cancelled']];

export function renderStats(main, { query }) {
  let days = Number(query.get('days')) || 30;
  if (!RANGES.some(([d]) => d === days)) days = 30;
  let current = null;
  const body = h('div', { id: 'stats-body' }, skeleton(6));
  const rangeButtons = RANGES.map(([d, label]) => h('button', { type: 'button', 'aria-pressed': String(d === days), onclick: () => {
    days = d;
    rangeButtons.forEach((b, i) => b.setAttribute('aria-pressed', String(RANGES[i][0] === d)));
    history.replaceState(null, '', `/stats?days=${d}`);
    load();
  } }, label));
  replace(main,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Statistics'), h('p', { class: 'muted', id: 'stats-window' }, '')),
      h('div', { class: 'range', role: 'group', 'aria-label': 'Time window' }, rangeButtons)),
    body);

  async function load() {
    const call = {};
    current = call;
    const to = new Date();
    const from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate() - (days - 1)));
    const window = `from=${from.toISOString()}&to=${to.toISOString()}`;
    try {
      const [stats, series, times, digest, suggestions] = await Promise.all([
        api(`/api/v1/approvals/stats?${window}`),
        api(`/api/v1/approvals/stats/timeseries?${window}&bucket=day`),
        api(`/api/v1/approvals/stats/decision-times?${window}`),
        loadDigest(),
        api('/api/v1/approvals/suggestions').catch(() => null),
      ]);
      if (current !== call) return;
      document.getElementById('stats-window').textContent = `Requests created from ${formatDay(from)} to ${formatDay(to)} (UTC days).`;
      replace(body, render(stats, series, times), suggestions ? renderSuggestions(suggestions) : null, digest ? renderDigest(digest) : null);
    } catch (error) {
      if (current === call) replace(body, errorBox(error, load));
    }
  }

  let refresh = null;
  load();
  return watchPage({
    onChanged: () => { clearTimeout(refresh); refresh = setTimeout(load, 1500); },
    stop: () => { current = null; clearTimeout(refresh); },
  });
}

/** The ISO week (2026-W47) of a date, in UTC. */
export function isoWeek(date) {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7)); // the Thursday of the week names its year
  const week = Math.ceil(((d - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** The digest of the last complete week, where the server has it. It is an extra: a server without it (404), or
 * any failure of it, simply shows no digest section and never the rest of the page. */
async function loadDigest() {
  try {
    return await api(`/api/v1/approvals/digest?week=${isoWeek(new Date(Date.now() - 7 * 86400000))}`);
  } catch {
    return null;
  }
}

/** Read-only suggestions: pairs always approved (consider a grant or an exemption) and very fast approvers. */
function renderSuggestions(s) {
  const r = s.rules;
  const exemptions = s.exemptions.length
    ? h('ul', { id: 'suggested-exemptions' }, s.exemptions.map(e => h('li', {},
      h('code', {}, e.action_name), ' from agent ', h('code', {}, e.agent_id ?? '(none)'),
      `: approved ${e.approved} times, never rejected. Consider a grant or a policy exemption.`)))
    : h('p', { class: 'muted', id: 'suggested-exemptions' }, `No agent and action was approved ${r.min_approvals} times or more without a rejection.`);
  const fast = s.fast_approvals.length
    ? h('div', { class: 'table-wrap' }, h('table', { id: 'fast-approvals' },
      h('caption', { class: 'sr-only' }, `Approvals given under ${r.fast_seconds} seconds, per approver`),
      h('thead', {}, h('tr', {}, ['Approver', 'Approvals', `Under ${r.fast_seconds} s`, 'Share', ''].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, s.fast_approvals.map(f => h('tr', { class: f.flagged ? 'flagged' : null },
        h('td', {}, f.approver), h('td', { class: 'num' }, String(f.approvals)), h('td', { class: 'num' }, String(f.fast)),
        h('td', { class: 'num' }, formatPercent(f.share)), h('td', {}, f.flagged ? 'Possible rubber-stamping' : ''))))))
    : h('p', { class: 'muted', id: 'fast-approvals' }, 'No approvals in the period.');
  return h('section', { class: 'card', id: 'suggestions', 'aria-labelledby': 'suggestions-title' },
    h('h2', { id: 'suggestions-title' }, `Suggestions (last ${r.window_days} days)`),
    h('h3', {}, 'Always approved'), exemptions,
    h('h3', {}, 'Fast approvals'),
    h('p', { class: 'hint' }, `Approvals given less than ${r.fast_seconds} seconds after the request appeared (posted in Slack or Teams for a decision made there, created for the console and the API). Flagged at ${formatPercent(r.flag_share)} or more of at least ${r.flag_min_approvals} approvals.`),
    fast);
}

function kpi(label, value, id) {
  return h('div', { class: 'kpi' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value));
}

function render(stats, series, times) {
  const labels = series.buckets.map(b => formatDay(b.start));
  const every = Math.ceil(labels.length / 10);
  const closed = stats.approved + stats.rejected + stats.expired + stats.cancelled;
  return h('div', { class: 'stack' },
    h('div', { class: 'kpis' },
      kpi('Pending now', stats.pending_total, 'kpi-pending'),
      kpi('Requests', stats.total, 'kpi-total'),
      kpi('Approval rate', formatPercent(stats.approval_rate), 'kpi-approval-rate'),
      kpi('Rejection rate', formatPercent(stats.rejection_rate), 'kpi-rejection-rate'),
      kpi('Expiry rate', formatPercent(stats.expiry_rate), 'kpi-expiry-rate'),
      kpi('Median decision', formatDuration(stats.median_decision_seconds), 'kpi-median'),
      kpi('Average decision', formatDuration(stats.average_decision_seconds), 'kpi-average')),
    h('section', { class: 'card', 'aria-labelledby': 'over-time-title' },
      h('h2', { id: 'over-time-title' }, 'Decisions over time'),
      series.buckets.some(b => b.approved + b.rejected + b.expired + b.cancelled > 0)
        ? columnChart({
          id: 'chart-over-time', labels, labelEvery: every,
          ariaLabel: `Outcomes per day: ${OUTCOMES.map(([k, n]) => `${series.buckets.reduce((s, b) => s + b[k], 0)} ${n.toLowerCase()}`).join(', ')}.`,
          series: OUTCOMES.map(([key, name]) => ({ key, name, values: series.buckets.map(b => b[key]) })),
        })
        : emptyState('∅', 'No outcomes in this window yet')),
    h('div', { class: 'grid cols-2' },
      h('section', { class: 'card', 'aria-labelledby': 'times-title' },
        h('h2', { id: 'times-title' }, 'Time to decision'),
        times.decided > 0
          ? columnChart({
            id: 'chart-decision-times', labels: times.buckets.map(b => b.label),
            ariaLabel: `Time to decision of ${times.decided} decided requests: ${times.buckets.map(b => `${b.label} ${b.total}`).join(', ')}.`,
            series: [{ key: 'approved', name: 'Approved', values: times.buckets.map(b => b.approved) }, { key: 'rejected', name: 'Rejected', values: times.buckets.map(b => b.rejected) }],
          })
          : emptyState('∅', 'No decisions in this window yet')),
      h('section', { class: 'card', 'aria-labelledby': 'rates-title' },
        h('h2', { id: 'rates-title' }, 'Outcomes'),
        closed > 0
          ? shareBar({ id: 'chart-rates', ariaLabel: `Of ${closed} closed requests: ${OUTCOMES.map(([k, n]) => `${stats[k]} ${n.toLowerCase()}`).join(', ')}.`,
            format: formatPercent, parts: OUTCOMES.map(([key, label]) => ({ key, label, value: stats[key] })) })
          : emptyState('∅', 'Nothing closed in this window yet'),
        h('h3', { class: 'spaced' }, 'By priority'),
        barList({ id: 'chart-priority', ariaLabel: `Requests by priority: ${PRIORITIES.map(p => `${p} ${stats.by_priority[p] ?? 0}`).join(', ')}.`,
          items: PRIORITIES.map(p => ({ key: p, label: p, value: stats.by_priority[p] ?? 0 })) }),
        h('h3', { class: 'spaced' }, 'By risk'),
        barList({ id: 'chart-risk', ariaLabel: `Requests by risk level: ${[...RISKS, 'unspecified'].map(r => `${r} ${stats.by_risk_level[r] ?? 0}`).join(', ')}.`,
          items: [...RISKS, 'unspecified'].map(r => ({ key: r, label: r, value: stats.by_risk_level[r] ?? 0 })) }))));
}

function renderDigest(d) {
  const s = d.summary ?? {};
  const change = d.change ?? {};
  const delta = (value, format) => typeof value === 'number'
    ? h('div', { class: `hint ${value > 0 ? 'delta-up' : value < 0 ? 'delta-down' : ''}` }, `${value > 0 ? '+' : ''}${format(value)} vs ${d.previous_week?.week ?? 'previous week'}`)
    : null;
  const points = (v) => `${(v * 100).toFixed(1)} pts`;
  const card = (label, value, id, diff) => h('div', { class: 'kpi' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value), diff);
  const oldest = Array.isArray(d.oldest_pending) ? d.oldest_pending : [];
  return h('section', { class: 'card', id: 'digest', 'aria-labelledby': 'digest-title' },
    h('h2', { id: 'digest-title' }, `Weekly digest · ${d.week}`),
    h('p', { class: 'muted' }, `${d.complete ? 'Complete week' : 'Week so far'}, ${formatDay(d.from)} to ${formatDay(d.to)}, ${d.time_zone}.`),
    h('div', { class: 'kpis' },
      card('Requests', s.total ?? 0, 'digest-total', delta(change.total, String)),
      card('Approval rate', formatPercent(s.approval_rate), 'digest-approval-rate', delta(change.approval_rate, points)),
      card('Expiry rate', formatPercent(s.expiry_rate), 'digest-expiry-rate', delta(change.expiry_rate, points)),
      card('Median decision', formatDuration(s.median_decision_seconds), 'digest-median', null),
      card('90th percentile', formatDuration(s.p90_decision_seconds), 'digest-p90', null),
      card('Pending at the end', d.pending_total ?? 0, 'digest-pending', null)),
    Array.isArray(d.by_day) && d.by_day.length
      ? columnChart({ id: 'chart-digest-days', labels: d.by_day.map(x => x.day ?? x.date), ariaLabel: `Requests per day in ${d.week}: ${d.by_day.map(x => `${x.day ?? x.date} ${x.total}`).join(', ')}.`,
        series: [{ key: 'created', name: 'Requests', values: d.by_day.map(x => x.total) }] })
      : null,
    h('div', { class: 'grid cols-2' },
      Array.isArray(d.slowest_routes) && d.slowest_routes.length
        ? h('div', { class: 'table-wrap' }, h('table', { id: 'digest-routes' }, h('caption', { class: 'sr-only' }, 'Slowest routes'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Slowest routes'), h('th', { scope: 'col', class: 'num' }, 'Decided'), h('th', { scope: 'col', class: 'num' }, 'Median decision'))),
          h('tbody', {}, d.slowest_routes.map(r => h('tr', {}, h('td', {}, r.route ?? 'no route'), h('td', { class: 'num' }, r.decided), h('td', { class: 'num' }, formatDuration(r.median_decision_seconds)))))))
        : null,
      oldest.length
        ? h('div', {}, h('h3', {}, 'Oldest pending'), h('ul', { class: 'plain-list', id: 'digest-oldest' }, oldest.map(p => h('li', {},
          h('a', { href: `/approvals/${encodeURIComponent(p.id)}`, 'data-link': '' }, p.action_name), ` · ${p.priority} · waiting ${formatDuration(p.age_seconds)}`))))
        : null));
}
