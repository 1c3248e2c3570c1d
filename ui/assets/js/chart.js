// Small SVG charts: a line chart of series over time and a horizontal bar
// chart of named values. Each returns an element whose data-total
// attribute is the sum of what it draws (what a test reads).

const NS = 'http://www.w3.org/2000/svg';
export const palette = ['#2f6fed', '#16a34a', '#e8590c', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#475569', '#dc2626', '#0d9488'];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function div(cls, text) {
  const d = document.createElement('div');
  d.className = cls;
  if (text) d.textContent = text;
  return d;
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function legend(items) {
  const l = div('legend');
  items.forEach(({ name, color }) => {
    const item = document.createElement('span');
    const sw = s('svg', { width: 10, height: 10, class: 'swatch', 'aria-hidden': 'true' }, s('rect', { width: 10, height: 10, rx: 2, fill: color }));
    item.append(sw, document.createTextNode(name));
    l.append(item);
  });
  return l;
}

// lineChart draws series ({name, values}) over times (Unix seconds).
// opts: format (a value's label), height, empty (text when all is zero).
export function lineChart(times, series, opts = {}) {
  const fmt = opts.format || (v => String(v));
  const W = 640, H = opts.height || 200, L = 52, R = 12, T = 10, B = 24;
  const wrap = div('chart');
  const total = series.reduce((a, x) => a + x.values.reduce((b, v) => b + (v || 0), 0), 0);
  wrap.dataset.total = String(total);
  wrap.dataset.series = String(series.length);
  if (!series.length || !times.length) {
    wrap.append(div('chart-empty', opts.empty || 'No traffic in this window.'));
    return wrap;
  }
  const maxV = niceMax(Math.max(0, ...series.flatMap(x => x.values).filter(v => v !== null)));
  const x = i => L + (times.length === 1 ? 0 : (i * (W - L - R)) / (times.length - 1));
  const y = v => T + (H - T - B) * (1 - v / maxV);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title || 'chart' });
  const axis = s('g', { class: 'axis' });
  for (let k = 0; k <= 4; k++) {
    const v = (maxV * k) / 4;
    axis.append(s('line', { class: k ? 'grid-line' : 'axis-line', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    axis.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  const ticks = Math.min(6, times.length);
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k * (times.length - 1)) / Math.max(1, ticks - 1));
    axis.append(s('text', { x: x(i), y: H - 6, 'text-anchor': k === 0 ? 'start' : k === ticks - 1 ? 'end' : 'middle' },
      new Date(times[i] * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
  }
  svg.append(axis);
  series.forEach((ser, n) => {
    const color = ser.color || palette[n % palette.length];
    // A null value (no figure for that point, such as a latency without
    // requests) breaks the line.
    let d = '', pen = 'M';
    ser.values.forEach((v, i) => {
      if (v === null) { pen = 'M'; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = 'L';
    });
    const path = s('path', { class: 'line', d, stroke: color });
    path.append(s('title', {}, ser.name));
    svg.append(path);
    ser.values.forEach((v, i) => {
      if (v > 0 && ser.values.length <= 90) {
        const dot = s('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: color, class: 'point' });
        dot.append(s('title', {}, `${ser.name} · ${new Date(times[i] * 1000).toLocaleTimeString()} · ${fmt(v)}`));
        svg.append(dot);
      }
    });
  });
  wrap.append(svg, legend(series.map((ser, n) => ({ name: ser.name, color: ser.color || palette[n % palette.length] }))));
  return wrap;
}

// barChart draws named values as horizontal bars; items: {name, value}
// or, with opts.keys, {name, values: [..]} as side-by-side bars per key.
export function barChart(items, opts = {}) {
  const fmt = opts.format || (v => String(v));
  const keys = opts.keys || null;
  const wrap = div('chart');
  const vals = items.flatMap(it => (keys ? it.values : [it.value]));
  wrap.dataset.total = String(vals.reduce((a, v) => a + (v || 0), 0));
  if (!items.length || (opts.empty && !vals.some(v => v > 0))) {
    wrap.append(div('chart-empty', opts.empty || 'Nothing to show.'));
    return wrap;
  }
  const per = keys ? keys.length : 1;
  const bh = 14, gap = 10, L = opts.labelWidth || 150, W = 640, R = 70;
  const rowH = per * bh + (per - 1) * 2 + gap;
  const H = items.length * rowH + 4;
  const maxV = Math.max(...vals, 0) || 1;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'bars', role: 'img', 'aria-label': opts.title || 'bar chart' });
  items.forEach((it, r) => {
    const y0 = r * rowH + 2;
    const label = it.name.length > 24 ? it.name.slice(0, 23) + '…' : it.name;
    svg.append(s('text', { class: 'lbl', x: L - 8, y: y0 + (per * bh + (per - 1) * 2) / 2 + 4, 'text-anchor': 'end' }, label));
    (keys ? it.values : [it.value]).forEach((v, k) => {
      const y = y0 + k * (bh + 2);
      const w = ((W - L - R) * (v || 0)) / maxV;
      svg.append(s('rect', { class: 'bar-bg', x: L, y, width: W - L - R, height: bh, rx: 3 }));
      const bar = s('rect', { x: L, y, width: Math.max(w, v > 0 ? 2 : 0).toFixed(1), height: bh, rx: 3, fill: palette[(keys ? k : r) % palette.length] });
      bar.append(s('title', {}, `${it.name}${keys ? ' · ' + keys[k] : ''}: ${fmt(v)}`));
      svg.append(bar);
      svg.append(s('text', { class: 'lbl', x: L + w + 6, y: y + bh - 3 }, fmt(v)));
    });
  });
  wrap.append(svg);
  if (keys) wrap.append(legend(keys.map((name, k) => ({ name, color: palette[k % palette.length] }))));
  return wrap;
}

// columnChart draws series ({name, values}) as grouped vertical columns
// over labels (one group a label).
export function columnChart(labels, series, opts = {}) {
  const fmt = opts.format || (v => String(v));
  const W = 640, H = opts.height || 170, L = 52, R = 8, T = 10, B = 24;
  const wrap = div('chart');
  const vals = series.flatMap(x => x.values);
  wrap.dataset.total = String(vals.reduce((a, v) => a + (v || 0), 0));
  if (!labels.length || !vals.some(v => v > 0)) {
    wrap.append(div('chart-empty', opts.empty || 'Nothing to show.'));
    return wrap;
  }
  const maxV = niceMax(Math.max(...vals));
  const y = v => T + (H - T - B) * (1 - v / maxV);
  const gw = (W - L - R) / labels.length;
  const bw = Math.min(28, (gw * 0.8) / series.length);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title || 'column chart' });
  const axis = s('g', { class: 'axis' });
  for (let k = 0; k <= 4; k++) {
    const v = (maxV * k) / 4;
    axis.append(s('line', { class: k ? 'grid-line' : 'axis-line', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    axis.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  const every = Math.ceil(labels.length / 12);
  const room = Math.max(3, Math.floor((gw * every) / 7.5)); // characters a label fits in
  labels.forEach((lab, i) => {
    if (i % every) return;
    const text = lab.length > room ? lab.slice(0, room - 1) + '…' : lab;
    const t = s('text', { x: L + gw * (i + 0.5), y: H - 6, 'text-anchor': 'middle' }, text);
    t.append(s('title', {}, lab));
    axis.append(t);
  });
  svg.append(axis);
  series.forEach((ser, n) => {
    const color = ser.color || palette[n % palette.length];
    ser.values.forEach((v, i) => {
      const x0 = L + gw * (i + 0.5) - (bw * series.length) / 2 + n * bw;
      const r = s('rect', { x: x0.toFixed(1), y: y(v || 0).toFixed(1), width: Math.max(bw - 2, 1).toFixed(1), height: (y(0) - y(v || 0)).toFixed(1), rx: 2, fill: color });
      r.append(s('title', {}, `${labels[i]}${series.length > 1 ? ' · ' + ser.name : ''}: ${fmt(v || 0)}`));
      svg.append(r);
    });
  });
  wrap.append(svg);
  if (series.length > 1) wrap.append(legend(series.map((ser, n) => ({ name: ser.name, color: ser.color || palette[n % palette.length] }))));
  return wrap;
}
