// Small SVG charts drawn by hand: stacked columns and horizontal bars. Colours come from CSS classes; every chart
// has a text label for screen readers and a <title> per mark for pointer users.
import { h } from './dom.js';

const W = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 40 };

function niceMax(value) {
  if (value <= 4) return Math.max(4, Math.ceil(value));
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].map(s => s * magnitude).find(s => value / s <= 5);
  return Math.ceil(value / step) * step;
}

/** Stacked columns: one column per label, one stack segment per series. */
export function columnChart({ id, labels, series, ariaLabel, labelEvery = 1 }) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, labels.length);
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const marks = [];
  for (let t = 0; t <= 4; t++) {
    const v = (max / 4) * t;
    marks.push(h('svg:line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      h('svg:text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, Number.isInteger(v) ? v : v.toFixed(1)));
  }
  labels.forEach((label, i) => {
    const x = PAD.left + slot * i + (slot - barW) / 2;
    let base = 0;
    for (const s of series) {
      const v = s.values[i] ?? 0;
      if (v > 0) {
        marks.push(h('svg:rect', { class: `f-${s.key}`, x, y: y(base + v), width: barW, height: Math.max(0.5, y(base) - y(base + v)), rx: 2 },
          h('svg:title', {}, `${label}: ${v} ${s.name.toLowerCase()}`)));
      }
      base += v;
    }
    if (i % labelEvery === 0) marks.push(h('svg:text', { x: x + barW / 2, y: H - 8, 'text-anchor': 'middle' }, label));
  });
  return figure(id, ariaLabel, marks, legend(series));
}

/** Horizontal bars with their values, e.g. counts by priority. */
export function barList({ id, items, ariaLabel, format = (v) => String(v) }) {
  const rowH = 30;
  const height = Math.max(1, items.length) * rowH + 8;
  const labelW = 110;
  const valueW = 70;
  const max = Math.max(1, ...items.map(i => i.value));
  const marks = items.flatMap((item, i) => {
    const y = 4 + i * rowH;
    const width = ((W - labelW - valueW) * item.value) / max;
    return [
      h('svg:text', { x: labelW - 8, y: y + 19, 'text-anchor': 'end' }, item.label),
      h('svg:rect', { class: `f-${item.key}`, x: labelW, y: y + 6, width: Math.max(item.value > 0 ? 2 : 0, width), height: rowH - 12, rx: 3 },
        h('svg:title', {}, `${item.label}: ${format(item.value)}`)),
      h('svg:text', { x: labelW + width + 6, y: y + 19 }, format(item.value)),
    ];
  });
  const svg = h('svg:svg', { class: 'chart', viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': ariaLabel, id }, h('svg:title', {}, ariaLabel), marks);
  return h('figure', { class: 'chart-figure' }, svg);
}

/** One bar split by share, with a legend of percentages. */
export function shareBar({ id, parts, ariaLabel, format }) {
  const total = parts.reduce((sum, p) => sum + p.value, 0);
  const bar = h('div', { class: 'ratebar', role: 'img', 'aria-label': ariaLabel, id });
  for (const p of parts) {
    if (p.value <= 0 || total === 0) continue;
    const span = h('span', { class: `f-${p.key}`, title: `${p.label}: ${format(p.value / total)}` });
    span.style.width = `${(p.value / total) * 100}%`;
    bar.append(span);
  }
  return h('figure', { class: 'chart-figure' }, bar,
    h('ul', { class: 'legend' }, parts.map(p => h('li', {}, h('span', { class: `swatch f-${p.key}`, 'aria-hidden': 'true' }), `${p.label} ${total ? format(p.value / total) : '—'} (${p.value})`))));
}

function legend(series) {
  return h('ul', { class: 'legend' }, series.map(s => h('li', {}, h('span', { class: `swatch f-${s.key}`, 'aria-hidden': 'true' }), s.name)));
}

function figure(id, ariaLabel, marks, after) {
  return h('figure', { class: 'chart-figure' },
    h('svg:svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': ariaLabel, id }, h('svg:title', {}, ariaLabel), marks),
    after);
}
