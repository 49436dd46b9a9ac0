// The page of `matcalc serve`. User text reaches the page only through textContent and
// KaTeX (trust: false); the state of the page is its URL.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), exprBox = $("expr"), errorBox = $("error"), output = $("output");
  const state = { kinds: ["scalar", "vector", "matrix", "symmetric"], variables: [], latex: "", text: "", code: "" };
  let variablesTimer = null, variablesAsked = 0;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function math(node, latex, display) {
    if (window.katex) {
      window.katex.render(latex, node, { displayMode: !!display, throwOnError: false, trust: false,
                                          strict: "ignore", maxExpand: 1000, output: "htmlAndMathml" });
    } else {
      node.textContent = latex;
    }
    return node;
  }

  function params(query) {
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== "" && v !== null && v !== undefined) out.set(k, v);
    return out;
  }

  async function api(query) {
    const response = await fetch("/api?" + params(query).toString(), { headers: { Accept: "application/json" } });
    let body;
    try {
      body = await response.json();
    } catch (e) {
      body = { error: `the server answered ${response.status} ${response.statusText}` };
    }
    if (!response.ok) throw body;
    return body;
  }

  function showError(err, text) {
    errorBox.replaceChildren();
    const message = (err && err.error) ? String(err.error) : String(err);
    const cause = message.split("\n")[0];
    errorBox.append(el("p", cause, "cause"));
    if (err && err.column) {
      const lines = (text || "").split("\n");
      const line = lines[(err.line || 1) - 1];
      if (line !== undefined) {
        const pre = el("pre", null, "caret");
        pre.append(el("span", line), document.createTextNode("\n"),
                   el("span", " ".repeat(err.column - 1) + "^", "mark"));
        errorBox.append(pre);
      }
    }
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  function op() {
    return form.querySelector('input[name="op"]:checked').value;
  }

  function chosen() {
    return Array.from(document.querySelectorAll("#variables input[type=checkbox]:checked")).map((c) => c.value);
  }

  function declarations() {
    return Array.from(document.querySelectorAll("#variables select"))
      .filter((s) => s.value !== s.dataset.inferred)
      .map((s) => `${s.dataset.name}=${s.value}`).join(",");
  }

  function showVariables(variables, wanted, kinds) {
    const body = document.querySelector("#variables tbody");
    const before = new Set(wanted || chosen());
    const declared = kinds || {};
    document.querySelectorAll("#variables select").forEach((s) => {
      if (s.value !== s.dataset.inferred) declared[s.dataset.name] = declared[s.dataset.name] || s.value;
    });
    body.replaceChildren();
    variables.forEach((v, i) => {
      const row = el("tr");
      const id = `kind-${i}`, wid = `wrt-${i}`;
      const name = el("th");
      name.scope = "row";
      math(name, v.latex || v.name);
      const kindCell = el("td"), select = el("select");
      select.id = id;
      select.dataset.name = v.name;
      select.dataset.inferred = v.inferred || "";
      select.setAttribute("aria-label", `kind of ${v.name}`);
      state.kinds.forEach((k) => {
        const option = el("option", k);
        option.value = k;
        select.append(option);
      });
      select.value = declared[v.name] || v.kind;
      select.addEventListener("change", () => askVariables(0));
      kindCell.append(select);
      const wrtCell = el("td"), label = el("label"), box = el("input");
      box.type = "checkbox";
      box.id = wid;
      box.value = v.name;
      box.checked = before.has(v.name);
      label.append(box, document.createTextNode(` ${v.name}`));
      wrtCell.append(label);
      row.append(name, kindCell, wrtCell);
      body.append(row);
    });
    $("variables").hidden = variables.length === 0;
    $("variables-empty").hidden = variables.length !== 0;
    state.variables = variables;
  }

  async function askVariables(delay, wanted, kinds) {
    clearTimeout(variablesTimer);
    const asked = ++variablesAsked;
    return new Promise((resolve) => {
      variablesTimer = setTimeout(async () => {
        const text = exprBox.value;
        if (!text.trim()) {
          showVariables([], wanted, kinds);
          return resolve(false);
        }
        let letValue = declarations();
        if (kinds) letValue = Object.entries(kinds).map(([k, v]) => `${k}=${v}`).join(",");
        try {
          const answer = await api({ op: "variables", expr: text, let: letValue });
          if (asked !== variablesAsked) return resolve(false);
          if (answer.kinds) state.kinds = answer.kinds;
          showVariables(answer.variables, wanted, kinds);
          clearError();
          resolve(true);
        } catch (err) {
          if (asked === variablesAsked) showError(err, text);
          resolve(false);
        }
      }, delay);
    });
  }

  function copy(text) {
    const said = $("copied");
    const done = () => { said.textContent = "copied"; setTimeout(() => { said.textContent = ""; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { said.textContent = "could not copy"; });
    } else {
      const area = el("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { said.textContent = "could not copy"; }
      area.remove();
    }
  }

  function showCheck(results) {
    const box = $("check-box"), out = $("check-result");
    out.replaceChildren();
    const checked = results.filter((r) => r.check);
    box.hidden = checked.length === 0;
    checked.forEach((r) => {
      const c = r.check;
      const p = el("p", null, c.passed ? "passed" : "failed");
      const sizes = Object.entries(c.sizes || {}).map(([k, v]) => `${k}=${v}`).join(", ");
      const fmt = (x) => (x === null || x === undefined) ? "n/a" : Number(x).toExponential(1);
      p.textContent = `${r.variable}: ${c.passed ? "ok" : "FAILED"}: largest relative error ${fmt(c.finite_differences)} ` +
        `(central differences), ${fmt(c.complex_step)} (complex step) at ${c.points} random points` +
        (sizes ? ` with ${sizes}` : "");
      out.append(p);
      (c.notes || []).forEach((n) => out.append(el("p", `note: ${n}`, "hint")));
    });
  }

  function showDerivation(record) {
    const box = $("derivation-box"), list = $("derivation");
    list.replaceChildren();
    box.hidden = !record || !record.steps;
    if (box.hidden) return;
    const lhs = { f: "f", df: "df", grad: "\\nabla f", dgrad: "d\\nabla f", hess: "\\nabla^2 f" };
    record.steps.forEach((step) => {
      const item = el("li", null, "step");
      const line = el("div", null, "math");
      const left = step.lhs ? (lhs[step.lhs] || step.lhs) : "";
      math(line, `${left} = ${step.latex}`, false);
      item.append(line);
      step.rules.forEach((rule) => {
        const why = el("div", null, "rule");
        why.append(el("span", rule.words, "words"));
        if (rule.latex) {
          why.append(document.createTextNode(": "));
          why.append(math(el("span", null, "identity"), rule.latex, false));
        }
        item.append(why);
      });
      list.append(item);
    });
  }

  function showForms(forms, fallback) {
    const result = $("result");
    result.replaceChildren();
    const latexLines = [], textLines = [];
    (forms ? forms.definitions : []).forEach((d) => {
      latexLines.push(d.latex);
      textLines.push(`${d.name} = ${d.text}`);
    });
    (forms ? forms.results : fallback).forEach((r) => {
      latexLines.push(r.latex);
      textLines.push(`${r.label} = ${r.text}`);
    });
    latexLines.forEach((latex) => result.append(math(el("div", null, "line"), latex, true)));
    state.latex = latexLines.join("\n");
    state.text = textLines.join("\n");
    state.code = forms ? forms.code : "";
    const fn = forms ? forms.function : "";
    const runtime = state.code.slice(0, state.code.length - fn.length).trimEnd();
    $("text").textContent = state.text;
    $("code").textContent = fn;  // the function first; what it calls, standalone, folded below it
    $("runtime").textContent = runtime;
    $("runtime-summary").textContent =
      `What the function needs: imports and helpers, ${runtime.split("\n").length} lines (Copy code copies them too)`;
  }

  function query() {
    const q = { op: op(), expr: exprBox.value, wrt: chosen().join(","), let: declarations() };
    if ($("check").checked) q.check = "1";
    if (q.op === "derive" && $("order2").checked) q.order = "2";
    return q;
  }

  function remember(q) {
    const url = "/?" + params(q).toString();
    if (location.pathname + location.search !== url) history.pushState(q, "", url);
  }

  async function compute(q) {
    clearError();
    if (!q.expr.trim()) return showError({ error: "type an expression first" });
    if (!q.wrt) return showError({ error: "choose a variable to differentiate with respect to" });
    remember(q);
    $("compute").disabled = true;
    output.setAttribute("aria-busy", "true");
    try {
      const forms = { op: "forms", of: q.op, expr: q.expr, wrt: q.wrt, let: q.let, order: q.order };
      const [doc, shared] = await Promise.all([api(q), api(forms)]);
      const fallback = doc.results.map((r) => ({ label: `${r.kind} ${r.variable}`, text: r.text, latex: r.latex }));
      showForms(shared, fallback);
      const notes = $("notes");
      notes.replaceChildren();
      const said = new Set();
      doc.results.forEach((r) => r.notes.forEach((n) => { if (!said.has(n)) { said.add(n); notes.append(el("p", `note: ${n}`, "hint")); } }));
      showCheck(doc.results);
      showDerivation(q.op === "derive" ? doc.results[0] : null);
      output.hidden = false;
    } catch (err) {
      output.hidden = true;
      showError(err, q.expr);
    } finally {
      $("compute").disabled = false;
      output.removeAttribute("aria-busy");
    }
  }

  function orderVisibility() {
    $("order-label").hidden = op() !== "derive";
  }

  async function load() {
    const url = new URLSearchParams(location.search);
    const expr = url.get("expr");
    if (url.get("op")) {
      const radio = form.querySelector(`input[name="op"][value="${CSS.escape(url.get("op"))}"]`);
      if (radio) radio.checked = true;
    }
    $("check").checked = url.get("check") === "1";
    $("order2").checked = url.get("order") === "2";
    orderVisibility();
    if (expr === null) {
      exprBox.value = "";
      showVariables([]);
      output.hidden = true;
      return;
    }
    exprBox.value = expr;
    const wanted = (url.get("wrt") || "").split(",").map((s) => s.trim()).filter(Boolean);
    const kinds = {};
    (url.get("let") || "").split(",").forEach((part) => {
      const [name, kind] = part.split("=");
      if (name && kind) kinds[name.trim()] = kind.trim();
    });
    const ok = await askVariables(0, wanted, kinds);
    if (ok && wanted.length) {
      const q = { op: op(), expr, wrt: wanted.join(","), let: url.get("let") || "" };
      if ($("check").checked) q.check = "1";
      if (q.op === "derive" && $("order2").checked) q.order = "2";
      await compute(q);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    compute(query());
  });
  exprBox.addEventListener("input", () => askVariables(300));
  exprBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.querySelectorAll('input[name="op"]').forEach((r) => r.addEventListener("change", orderVisibility));
  $("copy-latex").addEventListener("click", () => copy(state.latex));
  $("copy-text").addEventListener("click", () => copy(state.text));
  $("copy-code").addEventListener("click", () => copy(state.code));
  window.addEventListener("popstate", load);
  window.matcalcReady = load().then(() => { document.body.dataset.ready = "1"; });
})();
