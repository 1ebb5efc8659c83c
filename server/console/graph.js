// Draws a graph (GET /v1/graphs) as SVG: nodes in layers by their distance
// from __start__, static edges solid, conditional edges dashed; the nodes of
// past steps and of the current step are marked.

import { s } from "./dom.js";

const START = "__start__";
const END = "__end__";
const ROW = 78;
const GAP = 28;
const HEIGHT = 34;

function successors(graph) {
  const all = [...graph.nodes, END];
  const next = new Map();
  const add = (from, to, kind) => {
    if (!next.has(from)) next.set(from, []);
    for (const target of to) {
      if (!next.get(from).some((edge) => edge.to === target)) {
        next.get(from).push({ to: target, kind });
      }
    }
  };
  for (const edge of graph.edges) add(edge.from, [edge.to], "edge");
  for (const branch of graph.branches) add(branch.source, branch.targets ?? all, "branch");
  for (const [node, ends] of Object.entries(graph.ends)) add(node, ends, "branch");
  return next;
}

function layers(graph, next) {
  const depth = new Map([[START, 0]]);
  const queue = [START];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const { to } of next.get(node) ?? []) {
      if (to === END || depth.has(to)) continue;
      depth.set(to, depth.get(node) + 1);
      queue.push(to);
    }
  }
  let deepest = 0;
  for (const value of depth.values()) deepest = Math.max(deepest, value);
  for (const node of graph.nodes) if (!depth.has(node)) depth.set(node, ++deepest);
  depth.set(END, deepest + 1);
  const rows = [];
  for (const node of [START, ...graph.nodes, END]) {
    const row = depth.get(node);
    (rows[row] ??= []).push(node);
  }
  return rows.filter((row) => row !== undefined);
}

function label(node) {
  return node === START ? "start" : node === END ? "end" : node;
}

/**
 * The graph as an SVG element.
 *
 * @param graph A graph of GET /v1/graphs.
 * @param marks `{ current: Set, done: Set }` of node names.
 */
export function graphSvg(graph, marks) {
  const next = successors(graph);
  const rows = layers(graph, next);
  const width = (node) => Math.max(70, label(node).length * 8 + 28);
  const rowWidths = rows.map((row) =>
    row.reduce((sum, node) => sum + width(node), 0) + GAP * (row.length - 1)
  );
  const total = Math.max(...rowWidths) + 40;
  const place = new Map();
  rows.forEach((row, r) => {
    let x = (total - rowWidths[r]) / 2;
    for (const node of row) {
      place.set(node, { x, y: 20 + r * ROW, w: width(node) });
      x += width(node) + GAP;
    }
  });
  const height = 20 + (rows.length - 1) * ROW + HEIGHT + 20;
  const edges = [];
  for (const [from, list] of next) {
    const a = place.get(from);
    if (a === undefined) continue;
    for (const { to, kind } of list) {
      const b = place.get(to);
      if (b === undefined) continue;
      const x1 = a.x + a.w / 2;
      const x2 = b.x + b.w / 2;
      let d;
      if (b.y > a.y) {
        const y1 = a.y + HEIGHT;
        const y2 = b.y - 2;
        const mid = (y1 + y2) / 2;
        d = `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
      } else {
        // A loop back: around the right-hand side.
        const y1 = a.y + HEIGHT / 2;
        const y2 = b.y + HEIGHT / 2;
        const out = Math.max(a.x + a.w, b.x + b.w) + 30;
        d = `M${a.x + a.w},${y1} C${out},${y1} ${out},${y2} ${b.x + b.w + 2},${y2}`;
      }
      edges.push(
        s("path", {
          class: `edge ${kind}`,
          d,
          "marker-end": "url(#arrow)",
          "data-from": from,
          "data-to": to,
        }),
      );
    }
  }
  const nodes = [...place].map(([node, { x, y, w }]) => {
    const classes = ["node"];
    if (node === START || node === END) classes.push("terminal");
    if (marks.done.has(node)) classes.push("done");
    if (marks.current.has(node)) classes.push("current");
    const state = marks.current.has(node) ? " (current)" : marks.done.has(node) ? " (ran)" : "";
    return s(
      "g",
      { class: classes.join(" "), "data-node": node },
      s("title", {}, `${label(node)}${state}`),
      s("rect", { x, y, width: w, height: HEIGHT, rx: node === START || node === END ? 17 : 6 }),
      s("text", { x: x + w / 2, y: y + HEIGHT / 2 + 4, "text-anchor": "middle" }, label(node)),
    );
  });
  return s(
    "svg",
    {
      class: "graph",
      viewBox: `0 0 ${total + 40} ${height}`,
      role: "img",
      "aria-label": `Graph ${graph.name}: ${graph.nodes.length} nodes`,
    },
    s(
      "defs",
      {},
      s(
        "marker",
        {
          id: "arrow",
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto",
        },
        s("path", { d: "M0,0 L10,5 L0,10 z" }),
      ),
    ),
    edges,
    nodes,
  );
}
