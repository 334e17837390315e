// Builds elements from data. Every string becomes a text node (never HTML), so text that came from an agent is
// shown exactly as written and can never run as markup.
const SVG_NS = 'http://www.w3.org/2000/svg';

export function h(tag, props, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' && !svg) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function toast(message) {
  const box = document.getElementById('toasts');
  const item = h('div', { class: 'toast' }, message);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

export function emptyState(icon, title, text) {
  return h('div', { class: 'empty' }, h('span', { class: 'empty-icon', 'aria-hidden': 'true' }, icon), h('strong', {}, title), text ? h('p', {}, text) : null);
}

export function skeleton(rows = 4) {
  return h('div', { role: 'status', 'aria-label': 'Loading' }, Array.from({ length: rows }, () => h('div', { class: 'skeleton' })));
}

export function errorBox(error, retry) {
  return h('div', { class: 'alert', role: 'alert' },
    h('strong', {}, 'Something went wrong. '), error?.message ?? String(error),
    retry ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: retry }, 'Try again')) : null);
}

/** Shows `dialog` as a modal with `focus` focused; closing removes it and returns focus where it was. */
export function showModal(dialog, focus) {
  const before = document.activeElement;
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (before instanceof HTMLElement) before.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  focus.focus();
}

/** True when a key press belongs to a text field or a dialog, not to the page's shortcuts. */
export function typingTarget(event) {
  const t = event.target;
  return event.ctrlKey || event.metaKey || event.altKey
    || (t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.closest('dialog')));
}

/** Starts a page's once-a-second tick, keyboard shortcuts and live-update listener; returns what stops them all. */
export function watchPage({ tick, onKey, onChanged, stop }) {
  const timer = tick ? setInterval(tick, 1000) : null;
  if (onKey) document.addEventListener('keydown', onKey);
  if (onChanged) window.addEventListener('approvals-changed', onChanged);
  return () => {
    if (timer) clearInterval(timer);
    if (onKey) document.removeEventListener('keydown', onKey);
    if (onChanged) window.removeEventListener('approvals-changed', onChanged);
    stop?.();
  };
}
