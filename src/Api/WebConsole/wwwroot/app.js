// The console's shell: session, navigation, the live-update stream, and the page for the address.
import { api, ApiError, currentSession, onSessionChange, setSession } from './api.js';
import { h, replace, toast } from './dom.js';
import { renderInbox } from './inbox.js';
import { renderRequest } from './request.js';
import { renderStats } from './stats.js';
import { renderAdmin } from './admin.js';
import { renderGrants } from './grants.js';
import { renderAway } from './away.js';

const main = document.getElementById('main');
let cleanup = null;
let events = null;

const pages = [
  { pattern: /^\/(inbox)?$/, nav: '/inbox', title: 'Inbox', render: renderInbox },
  { pattern: /^\/approvals\/([^/]+)$/, nav: '/inbox', title: 'Request', render: renderRequest },
  { pattern: /^\/stats$/, nav: '/stats', title: 'Statistics', render: renderStats },
  { pattern: /^\/grants$/, nav: '/grants', title: 'Grants', render: renderGrants },
  { pattern: /^\/away$/, nav: '/away', title: 'Away', render: renderAway },
  { pattern: /^\/admin$/, nav: '/admin', title: 'Administration', render: renderAdmin, admin: true },
];

export function navigate(path, { replace: replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, '', path); else history.pushState(null, '', path);
  route();
}

/** Only a path of this site is a place to return to after sign-in. */
function safeReturn(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : '/inbox';
}

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.pathname;
  const session = currentSession();
  if (!session) {
    const back = path === '/' || path === '/signin' ? new URLSearchParams(location.search).get('return') : path + location.search;
    if (path !== '/' && path !== '/signin') history.replaceState(null, '', `/signin?return=${encodeURIComponent(back)}`);
    renderSignIn(back);
    return;
  }
  if (path === '/signin') {
    navigate(safeReturn(new URLSearchParams(location.search).get('return')), { replace: true });
    return;
  }
  const page = pages.find(p => p.pattern.test(path));
  if (!page || (page.admin && !session.is_admin)) {
    document.title = 'Not found · Agent Sentinel';
    replace(main, h('div', { class: 'card empty' }, h('strong', {}, page ? 'Administration needs an admin key' : 'There is no such page'),
      h('p', {}, h('a', { href: '/inbox', 'data-link': '' }, 'Back to the inbox'))));
    markNav(null);
    return;
  }
  document.title = `${page.title} · Agent Sentinel`;
  markNav(page.nav);
  const match = path.match(page.pattern);
  cleanup = page.render(main, { params: match.slice(1), query: new URLSearchParams(location.search), navigate }) ?? null;
  main.focus({ preventScroll: true });
}

function markNav(active) {
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

function renderTopbar(session) {
  const bar = document.getElementById('topbar');
  bar.hidden = !session;
  if (!session) return;
  const items = [['/inbox', 'Inbox'], ['/stats', 'Statistics'], ['/grants', 'Grants'], ['/away', 'Away']];
  if (session.is_admin) items.push(['/admin', 'Administration']);
  replace(document.getElementById('nav'), items.map(([href, text]) => h('li', {}, h('a', { href, 'data-link': '' }, text))));
  replace(document.getElementById('session-box'),
    h('span', { class: 'live', id: 'live', title: 'Live updates' }, 'Connecting'),
    h('span', { class: 'hide-narrow', title: session.scopes.join(', ') }, session.email ?? session.name),
    h('button', { type: 'button', id: 'sign-out', onclick: signOut }, 'Sign out'));
}

function setLive(on, text) {
  const live = document.getElementById('live');
  if (!live) return;
  live.classList.toggle('on', on);
  live.textContent = text;
}

function connectEvents() {
  disconnectEvents();
  const source = new EventSource('/console/api/events');
  events = source;
  source.addEventListener('ready', () => setLive(true, 'Live'));
  source.addEventListener('changed', (e) => {
    const { ids } = JSON.parse(e.data);
    window.dispatchEvent(new CustomEvent('approvals-changed', { detail: { ids, all: ids.length === 0 } }));
  });
  source.addEventListener('session-ended', () => { disconnectEvents(); setSession(null); });
  source.onerror = async () => {
    setLive(false, 'Reconnecting');
    if (source.readyState !== EventSource.CLOSED) return;
    // The stream was refused: find out whether the session has ended, else try again shortly.
    try {
      setSession(await api('/console/api/session'));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) { setSession(null); return; }
    }
    setTimeout(() => { if (events === source && currentSession()) connectEvents(); }, 3000);
  };
}

function disconnectEvents() {
  if (events) { events.close(); events = null; }
}

async function signOut() {
  let answer = null;
  try {
    answer = await api('/console/api/session', { method: 'DELETE' });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) { toast(error.message); return; }
  }
  if (answer?.end_session_url) {
    // Signed in through the company identity provider: end its session too, then come back to the sign-in page.
    location.assign(answer.end_session_url);
    return;
  }
  setSession(null);
  toast('You are signed out.');
}

/** How people may sign in (API key, identity provider); asked once, before the sign-in page is shown. */
let signInOptions = { api_key_sign_in: true, oidc: null };

/** Why the identity provider's sign-in was refused, worded for the person (the address carries only the code). */
const REFUSALS = {
  'no-role': 'You signed in at your identity provider, but your account has neither an approver nor an admin role for Agent Sentinel. Ask your administrator to give you one.',
  'unverified-email': 'Your identity provider has not confirmed your email address, so Agent Sentinel cannot tell who you are. Confirm your email address there, then sign in again.',
  'no-email': 'Your identity provider did not send an email address for your account, so Agent Sentinel cannot tell who you are. Ask your administrator to check the provider\'s email claim.',
  provider: 'The sign-in through your identity provider did not complete. Try again; if it keeps failing, tell your administrator.',
};

function renderSignIn(back) {
  document.title = 'Sign in · Agent Sentinel';
  const query = new URLSearchParams(location.search);
  const refused = REFUSALS[query.get('refused')] ?? null;
  const notice = refused
    ? h('div', { class: 'alert', role: 'alert', id: 'signin-refused' }, h('strong', {}, 'Sign-in refused. '), refused)
    : query.get('signed_out') ? h('div', { class: 'alert ok', role: 'status', id: 'signin-signed-out' }, 'You are signed out.') : null;
  const parts = [h('h1', {}, 'Sign in'), notice];
  let focus = null;
  if (signInOptions.oidc) {
    const href = `${signInOptions.oidc.sign_in_url}?return=${encodeURIComponent(safeReturn(back))}`;
    focus = h('a', { class: 'button primary', id: 'oidc-sign-in', href }, `Sign in with ${signInOptions.oidc.display_name}`);
    parts.push(h('div', { class: 'actions' }, focus));
  }
  if (signInOptions.api_key_sign_in) {
    const keyInput = h('input', { type: 'password', id: 'api-key', name: 'api_key', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'key-hint' });
    const error = h('div', { class: 'alert', role: 'alert', id: 'signin-error' });
    const button = h('button', { type: 'submit', class: signInOptions.oidc ? '' : 'primary' }, 'Sign in');
    const form = h('form', { novalidate: true, id: 'key-sign-in', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      keyInput.removeAttribute('aria-invalid');
      button.disabled = true;
      try {
        const session = await api('/console/api/session', { method: 'POST', body: { api_key: keyInput.value } });
        history.replaceState(null, '', safeReturn(back));
        setSession(session);
      } catch (err) {
        error.textContent = err.message;
        keyInput.setAttribute('aria-invalid', 'true');
        keyInput.focus();
      } finally {
        button.disabled = false;
      }
    } },
    h('p', { class: 'muted' }, signInOptions.oidc ? 'Or use an API key with the approver or admin scope.' : 'Use an API key with the approver or admin scope. It is exchanged for a session cookie and is not kept by the browser.'),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), keyInput,
      h('p', { class: 'hint', id: 'key-hint' }, 'On a fresh install the first admin key is in the file named in the server\'s start-up log (agentsentinel-admin.key by default).')),
    error,
    h('div', { class: 'actions' }, button));
    parts.push(form);
    focus ??= keyInput;
  }
  replace(main, h('section', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('div', { class: 'logo', id: 'signin-title' }, h('img', { src: '/console/assets/icon.svg', alt: '' }), h('strong', {}, 'Agent Sentinel Approval Inbox')),
    h('div', { class: 'card' }, parts),
    h('p', { class: 'muted' }, 'Agents and automation use the API: ', h('a', { href: '/scalar' }, 'API reference'), '.')));
  focus?.focus();
}

onSessionChange((session) => {
  renderTopbar(session);
  if (session) connectEvents(); else disconnectEvents();
  route();
});

document.addEventListener('click', (e) => {
  const link = e.target instanceof Element ? e.target.closest('a[data-link]') : null;
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', route);

async function start() {
  try {
    signInOptions = await api('/console/api/sign-in-options');
  } catch (error) {
    toast(error.message);
  }
  let session = null;
  try {
    session = await api('/console/api/session');
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) toast(error.message);
  }
  setSession(session);
}

start();
