// Formatting of times, money and durations for display.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const money = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

export const PRIORITIES = ['critical', 'high', 'medium', 'low'];
export const RISKS = ['critical', 'high', 'medium', 'low', 'minimal'];
export const STATUSES = ['pending', 'info_requested', 'approved', 'rejected', 'expired', 'cancelled'];

export function formatDateTime(value) { return value ? dateTime.format(new Date(value)) : '—'; }
export function formatDay(value) { return shortDate.format(new Date(value)); }
export function formatCost(value) { return value === null || value === undefined ? '—' : money.format(Number(value)); }
export function formatPercent(value) { return percent.format(value ?? 0); }
export function statusLabel(status) { return (status ?? '').replace('_', ' '); }

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** The text and urgency class of a countdown to a deadline. */
export function countdown(expiresAt, now = Date.now()) {
  const left = (new Date(expiresAt).getTime() - now) / 1000;
  if (left <= 0) return { text: 'deadline passed', cls: 'countdown over', over: true };
  const cls = left < 60 ? 'countdown urgent' : left < 300 ? 'countdown soon' : 'countdown';
  return { text: `${formatDuration(left)} left`, cls, over: false };
}

/** Refreshes every countdown under `root`; calls `onPassed(element)` once for each deadline that has passed. */
export function updateCountdowns(root, onPassed) {
  for (const el of root.querySelectorAll('[data-deadline]')) {
    const c = countdown(el.dataset.deadline);
    el.textContent = c.text;
    el.className = c.cls;
    if (c.over && !el.dataset.passed) {
      el.dataset.passed = '1';
      onPassed(el);
    }
  }
}

/** The agent id a request claims, beside the name of the API key that made it: "billing-agent · key billing-prod". */
export function agentLabel(approval) {
  const agent = approval.agent_id ?? '—';
  return approval.requester_key_name ? `${agent} · key ${approval.requester_key_name}` : agent;
}

export function isOpen(approval) { return approval.status === 'pending' || approval.status === 'info_requested'; }

export function prettyJson(value) {
  if (value === null || value === undefined) return null;
  return JSON.stringify(value, null, 2);
}
