// Drawing graphs: a force-directed layout (Fruchterman–Reingold, on a grid so repulsion stays
// near-linear) computed here, drawn by sigma.js (WebGL) over graphology, both vendored
// (console/vendor). The layout is seeded from the ids, so the same graph lands the same way.

/* global Sigma, graphology */

/** A small deterministic PRNG (mulberry32) seeded from a string. */
function rng(seedText) {
  let a = 0x9e3779b9;
  for (const ch of seedText) a = Math.imul(a ^ ch.charCodeAt(0), 0x85ebca6b);
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Positions for `n` nodes joined by `edges` ([source, target, weight]): Fruchterman–Reingold
 * with repulsion only between nodes in neighbouring grid cells, and a pull to the centre so
 * that disconnected parts stay in view. Returns [[x, y], …] in about [-1, 1].
 */
export function layout(n, edges, seed, iterations = 120) {
  const random = rng(seed);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const angle = random() * 2 * Math.PI;
    const r = Math.sqrt(random());
    xs[i] = r * Math.cos(angle);
    ys[i] = r * Math.sin(angle);
  }
  if (n < 2) return Array.from(xs, (x, i) => [x, ys[i]]);
  const k = Math.sqrt(4 / n); // ideal distance in a 2 × 2 square
  const dx = new Float64Array(n);
  const dy = new Float64Array(n);
  const cell = 2 * k;
  let temperature = 0.2;
  for (let it = 0; it < iterations; it++) {
    dx.fill(0);
    dy.fill(0);
    const grid = new Map();
    for (let i = 0; i < n; i++) {
      const key = `${Math.floor(xs[i] / cell)},${Math.floor(ys[i] / cell)}`;
      let bucket = grid.get(key);
      if (!bucket) grid.set(key, (bucket = []));
      bucket.push(i);
    }
    for (let i = 0; i < n; i++) {
      const gx = Math.floor(xs[i] / cell);
      const gy = Math.floor(ys[i] / cell);
      for (let ox = -1; ox <= 1; ox++) {
        for (let oy = -1; oy <= 1; oy++) {
          const bucket = grid.get(`${gx + ox},${gy + oy}`);
          if (!bucket) continue;
          for (const j of bucket) {
            if (j === i) continue;
            let ddx = xs[i] - xs[j];
            let ddy = ys[i] - ys[j];
            let d2 = ddx * ddx + ddy * ddy;
            if (d2 < 1e-9) {
              ddx = (random() - 0.5) * 1e-3;
              ddy = (random() - 0.5) * 1e-3;
              d2 = ddx * ddx + ddy * ddy;
            }
            const f = (k * k) / d2;
            dx[i] += ddx * f;
            dy[i] += ddy * f;
          }
        }
      }
    }
    for (const [s, t, w = 1] of edges) {
      const ddx = xs[s] - xs[t];
      const ddy = ys[s] - ys[t];
      const d = Math.sqrt(ddx * ddx + ddy * ddy) + 1e-9;
      const f = (d / k) * Math.min(3, Math.sqrt(w));
      dx[s] -= ddx * f;
      dy[s] -= ddy * f;
      dx[t] += ddx * f;
      dy[t] += ddy * f;
    }
    for (let i = 0; i < n; i++) {
      dx[i] -= xs[i] * 0.5 * k * n ** 0.5;
      dy[i] -= ys[i] * 0.5 * k * n ** 0.5;
      const d = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]) + 1e-9;
      const step = Math.min(d, temperature);
      xs[i] += (dx[i] / d) * step;
      ys[i] += (dy[i] / d) * step;
    }
    temperature *= 0.97;
  }
  return Array.from(xs, (x, i) => [x, ys[i]]);
}

/** A palette readable on the console's light background (Okabe–Ito, colour-blind safe). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#000000"];

/**
 * A sigma.js renderer in `container`, over an empty graph: made before the data arrives, so
 * that compiling its WebGL programs (the slow part of a first draw, ~300 ms in a software
 * renderer) overlaps the request. `onSelect(key)` on a click (or tap) of a node, null on the
 * stage. `renderer.show(nodes, edges)` draws nodes ({key, x, y, label, size, color}) and edges
 * ({source, target, size, color}); `renderer.select(key)` highlights a node and its ties.
 * `.kill()` it when the page goes.
 */
export function draw(container, { onSelect, directed = false, highlight } = {}) {
  const graph = new graphology.Graph({ type: directed ? "directed" : "undirected", multi: false });
  const state = { selected: null };
  const renderer = new Sigma(graph, container, {
    defaultEdgeType: directed ? "arrow" : "line",
    labelRenderedSizeThreshold: 7,
    labelFont: "system-ui, 'Noto Sans Arabic', sans-serif",
    stagePadding: 40,
    zIndex: true,
    nodeReducer(node, data) {
      if (!state.selected) return data;
      if (node === state.selected) return { ...data, highlighted: true, zIndex: 2, forceLabel: true };
      if (graph.areNeighbors(node, state.selected)) return { ...data, zIndex: 1, forceLabel: true };
      return { ...data, color: "#d5dae0", label: "", zIndex: 0 };
    },
    edgeReducer(edge, data) {
      if (!state.selected) return data;
      const [s, t] = graph.extremities(edge);
      if (s === state.selected || t === state.selected) return { ...data, color: highlight ?? "#D55E00", size: Math.max(2, data.size), zIndex: 1 };
      return { ...data, hidden: true };
    },
  });
  renderer.on("clickNode", ({ node }) => onSelect?.(node));
  renderer.on("clickStage", () => onSelect?.(null));
  renderer.show = (nodes, edges) => {
    graph.clear();
    for (const n of nodes) graph.addNode(n.key, { x: n.x, y: n.y, size: n.size, label: n.label, color: n.color });
    for (const e of edges) {
      if (e.source === e.target || graph.hasEdge(e.source, e.target)) continue;
      graph.addEdge(e.source, e.target, { size: e.size ?? 1, color: e.color ?? "#9aa3ad" });
    }
    renderer.refresh();
  };
  renderer.select = (key) => {
    state.selected = key && graph.hasNode(key) ? key : null;
    renderer.refresh();
  };
  return renderer;
}

/** How many pixels of a sigma renderer's node layer are drawn (for the tests). */
export function paintedPixels(renderer) {
  renderer.refresh();
  const layer = renderer.getCanvases().nodes;
  const probe = document.createElement("canvas");
  probe.width = layer.width;
  probe.height = layer.height;
  const ctx = probe.getContext("2d");
  ctx.drawImage(layer, 0, 0);
  const pixels = ctx.getImageData(0, 0, probe.width, probe.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}
