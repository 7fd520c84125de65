"""The CSS and JavaScript of the step-through page (inline: the page loads nothing)."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
body { margin: 0; font: 14px/1.4 Helvetica, Arial, sans-serif; color: #222; }
header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; border-bottom: 1px solid #ddd;
         position: sticky; top: 0; background: #fff; z-index: 1; }
header h1 { font-size: 16px; margin: 0; flex: 1; }
header button { font-size: 14px; padding: .2em .7em; }
#gt-pos { min-width: 9em; text-align: center; font-variant-numeric: tabular-nums; }
main { display: flex; align-items: flex-start; }
#gt-graph { flex: 1; overflow: auto; padding: .5em; max-height: calc(100vh - 4em); }
#gt-panel { width: 24em; padding: .5em 1em; border-left: 1px solid #ddd; max-height: calc(100vh - 4em);
            overflow: auto; position: sticky; top: 3em; }
#gt-panel h2 { font-size: 15px; margin: .3em 0; word-break: break-all; }
#gt-panel h3 { font-size: 13px; margin: .8em 0 .2em; color: #555; }
#gt-panel table { border-collapse: collapse; }
#gt-panel td { vertical-align: top; padding: 1px 6px 1px 0; }
#gt-panel td:first-child { color: #6b6b6b; white-space: nowrap; }
#gt-panel pre { margin: 0; font: 12px/1.3 monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.gt-nan, .gt-inf { color: #d62728; font-weight: bold; }
.gt-zero { color: #9a9a9a; }
.gt-local { color: #2e7d32; }
header nav { display: flex; gap: .8em; }
#gt-key { margin: 0; padding: .3em 1em; font-size: 12px; color: #555; border-bottom: 1px solid #eee; }
.gt-k { display: inline-block; width: 1.6em; height: .7em; margin: 0 .3em 0 .8em; vertical-align: middle;
        border-radius: 2px; }
.gt-k-current { border: 3px solid #ff7f0e; background: #fff; height: .5em; }
.gt-k-in { background: #ff7f0e; } .gt-k-out { background: #2ca02c; } .gt-k-todo { background: #ccc; opacity: .5; }
svg .node, svg .edge { transition: opacity .15s; }
svg .gt-todo { opacity: .3; }
svg .gt-hide { visibility: hidden; }
svg .gt-current path, svg .gt-current polygon { stroke: #ff7f0e; stroke-width: 4px; }
svg .gt-in path { stroke: #ff7f0e; stroke-width: 3px; }
svg .gt-in polygon { stroke: #ff7f0e; fill: #ff7f0e; }
svg .gt-out path { stroke: #2ca02c; stroke-width: 3px; }
svg .gt-out polygon { stroke: #2ca02c; fill: #2ca02c; }
@media (prefers-color-scheme: dark) {  /* the page follows its SVG (NOTE [dark mode] in _svg.py) */
  body, header { background: #141414; color: #ddd; }
  header, #gt-panel { border-color: #3a3a3a; }
  header button { background: #2a2a2a; color: #ddd; border: 1px solid #555; }
  #gt-panel h3, #gt-panel td:first-child { color: #aaa; }
  #gt-key { color: #aaa; border-color: #3a3a3a; }
}
"""

JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gt-data").textContent);
  var steps = data.steps, pos = 0;
  var order = {};
  steps.forEach(function (s, i) { order[s.node] = i; });
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function table(rows) {
    var t = el("table");
    rows.forEach(function (r) {
      var tr = el("tr"), td = el("td");
      tr.appendChild(el("td", r[0]));
      td.appendChild(el("pre", r[1], r[2] ? "gt-" + r[2] : ""));
      tr.appendChild(td);
      t.appendChild(tr);
    });
    return t;
  }
  function section(panel, heading, rows) {
    if (!rows.length) return;
    panel.appendChild(el("h3", heading));
    panel.appendChild(table(rows));
  }
  function mark(id, cls, on) {
    var e = document.getElementById(id);
    if (e) e.classList.toggle(cls, on);
  }
  // NOTE [lines known before a step]: a node not yet reached shows only what the forward
  // pass knew; an edge's gradient shows from the step of the node it leaves.
  function texts(id) {
    var e = document.getElementById(id);
    return e ? e.querySelectorAll("text") : [];
  }
  function reveal(t, done) {
    mark(t.node, "gt-todo", !done);
    if (t.known !== null) {
      texts(t.node).forEach(function (x, k) { x.classList.toggle("gt-hide", !done && k >= t.known); });
    }
    t.out.forEach(function (e) {
      mark(e.edge, "gt-todo", !done);
      texts(e.edge).forEach(function (x) { x.classList.toggle("gt-hide", !done); });
    });
  }
  function show(i) {
    pos = Math.max(0, Math.min(steps.length - 1, i));
    var s = steps[pos];
    document.querySelectorAll("svg .gt-in, svg .gt-out, svg .gt-current").forEach(function (e) {
      e.classList.remove("gt-in", "gt-out", "gt-current");
    });
    steps.forEach(function (t, j) { if (t.kind !== "hook") reveal(t, j <= pos); });
    mark(s.node, "gt-current", true);
    s["in"].forEach(function (e) { mark(e.edge, "gt-in", true); });
    s.out.forEach(function (e) { mark(e.edge, "gt-out", true); });
    document.getElementById("gt-pos").textContent = "step " + s.step + " (" + (pos + 1) + " of " + steps.length + ")";
    var panel = document.getElementById("gt-panel");
    panel.textContent = "";
    panel.appendChild(el("h2", s.title));
    section(panel, "node", s.facts);
    section(panel, "gradient arriving", s["in"].map(function (e) { return ["from " + e.from, e.grad, e.health]; }));
    if (s.sum) section(panel, "sum of contributions", [["grad in", s.sum]]);
    section(panel, "gradient", s.grads);
    section(panel, "backward rule (PyTorch's derivatives.yaml)", s.rule);
    section(panel, "gradient leaving", s.out.map(function (e) {
      return ["to " + e.to, e.grad + (e.local ? "   (" + e.local + ")" : ""), e.health];
    }));
    var node = document.getElementById(s.node);
    if (node && node.scrollIntoView) node.scrollIntoView({block: "nearest", inline: "nearest"});
  }
  function go(i) { if (steps.length) show(i); }
  document.getElementById("gt-first").onclick = function () { go(0); };
  document.getElementById("gt-prev").onclick = function () { go(pos - 1); };
  document.getElementById("gt-next").onclick = function () { go(pos + 1); };
  document.getElementById("gt-last").onclick = function () { go(steps.length - 1); };
  document.addEventListener("keydown", function (ev) {
    var keys = {ArrowRight: pos + 1, ArrowDown: pos + 1, ArrowLeft: pos - 1, ArrowUp: pos - 1,
                Home: 0, End: steps.length - 1};
    if (ev.key in keys) { ev.preventDefault(); go(keys[ev.key]); }
  });
  document.querySelectorAll("svg .node").forEach(function (n) {
    n.addEventListener("click", function () { if (n.id in order) go(order[n.id]); });
  });
  go(0);
})();
"""
