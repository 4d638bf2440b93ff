"""The judgment browser's stylesheet and script (see `browser.py`). The script reads the page's JSON and
builds every element with createElement/textContent: no string of the data is ever parsed as HTML."""

PAGE_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f4f5f7; }
header { background: #fff; border-bottom: 1px solid #d7dbe2; padding: 12px 20px; position: sticky; top: 0;
  z-index: 1; }
h1 { font-size: 18px; margin: 0 0 4px; }
#summary, #status { margin: 4px 0; color: #4a5366; }
#filters { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; margin: 8px 0; }
#filters select, #filters input[type=search] { margin-left: 4px; max-width: 240px; }
main { padding: 12px 20px; }
.pager { padding: 4px 20px; }
.pager .page { margin: 0 8px; }
article.question { background: #fff; border: 1px solid #d7dbe2; border-radius: 6px; margin: 0 0 16px;
  padding: 10px 16px; }
article.question h2 { font-size: 15px; margin: 0 0 2px; }
.meta { color: #6a7386; font-size: 12px; margin-bottom: 6px; }
.turn h3 { font-size: 13px; margin: 10px 0 4px; color: #4a5366; }
.prompt { background: #eef2fb; border-left: 3px solid #6c8ee0; padding: 6px 10px; white-space: pre-wrap; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px;
  margin: 8px 0; }
.answer { border: 1px solid #e1e4ea; border-radius: 4px; padding: 6px 10px; }
.answer h4 { margin: 0 0 4px; font-size: 13px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 22em; overflow: auto; }
.judgment { border-top: 1px dashed #d7dbe2; padding: 6px 0; }
.judgment.disagree { background: #fff8e6; }
.judgment .head { display: flex; flex-wrap: wrap; gap: 10px; align-items: baseline; }
.judge { font-weight: 600; }
.badge { background: #f2b84b; color: #3b2a00; border-radius: 10px; padding: 0 8px; font-size: 12px; }
.orders, .label { color: #6a7386; font-size: 12px; }
.explanation { margin: 4px 0 4px 12px; }
.explanation .text { max-height: 14em; }
"""

PAGE_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var PAGE = 20;
  var state = {judge: "", model: "", category: "", text: "", disagree: false, page: 0};
  var byQuestion = D.questions.map(function () { return []; });
  D.judgments.forEach(function (j) { byQuestion[j.q].push(j); });
  D.questions.forEach(function (q) {
    q.search = [q.id, q.source_id || ""].concat(q.turns).join("\n").toLowerCase();
  });

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fill(select, label, values) {
    select.appendChild(new Option("all " + label, ""));
    values.forEach(function (v) { select.appendChild(new Option(v, v)); });
  }
  function matches(j) {
    if (state.judge && j.judge !== state.judge) { return false; }
    if (state.model && j.ma !== state.model && j.mb !== state.model) { return false; }
    if (state.category && D.questions[j.q].category !== state.category) { return false; }
    return !state.disagree || j.dj || j.do;
  }
  function picked(letter, first, second) {
    if (letter === null) { return "no verdict"; }
    if (letter === "C") { return "tie"; }
    return (letter === "A" ? first : second) + " better";
  }
  function verdict(j) {
    if (j.mode === "single") {
      var grade = j.score === null ? "no grade (" + j.status + ")" : j.score + " / 10";
      return (j.ma || "answer") + ": " + grade;
    }
    var a = j.ma || "answer A", b = j.mb || "answer B";
    var w = {model_a: a + " better", model_b: b + " better", tie: "tie"}[j.winner];
    return a + " vs " + b + ": " + (w || "no verdict (" + j.status + ")");
  }
  function judgment(j) {
    var box = el("div", "judgment" + (j.dj || j.do ? " disagree" : ""));
    var head = el("div", "head");
    head.appendChild(el("span", "judge", j.judge));
    head.appendChild(el("span", "verdict", verdict(j)));
    if (j.dj) { head.appendChild(el("span", "badge", "judges disagree")); }
    if (j.do) { head.appendChild(el("span", "badge", "orders disagree")); }
    box.appendChild(head);
    var a = j.ma || "A", b = j.mb || "B";
    if (j.mode !== "single" && (j.v1 !== null || j.v2 !== null)) {
      box.appendChild(el("div", "orders", a + " shown first: " + picked(j.v1, a, b) + "; " + b +
                         " shown first: " + picked(j.v2, b, a)));
    }
    var replies = j.mode === "single" ? [["judge's reply", j.e1]]
      : [["judge's reply, " + a + " shown first", j.e1], ["judge's reply, " + b + " shown first", j.e2]];
    var shown = replies.filter(function (r) { return r[1] !== null; });
    (shown.length ? shown : [["judge's reply", "(no reply stored)"]]).forEach(function (r) {
      var d = el("div", "explanation");
      d.appendChild(el("div", "label", r[0]));
      d.appendChild(el("div", "text", r[1]));
      box.appendChild(d);
    });
    return box;
  }
  function question(qi, js) {
    var q = D.questions[qi];
    var card = el("article", "question");
    card.appendChild(el("h2", null, "Question " + (q.source_id || q.id.slice(0, 12))));
    card.appendChild(el("div", "meta", [q.category, "prompt " + q.id].filter(Boolean).join(" · ")));
    var turns = {};
    js.forEach(function (j) { (turns[j.t] = turns[j.t] || []).push(j); });
    Object.keys(turns).map(Number).sort(function (x, y) { return x - y; }).forEach(function (t) {
      var sec = el("section", "turn");
      if (q.turns.length > 1) { sec.appendChild(el("h3", null, "Turn " + t)); }
      sec.appendChild(el("div", "prompt", t <= q.turns.length ? q.turns[t - 1] : "(turn not stored)"));
      var seen = {}, ids = [];
      turns[t].forEach(function (j) {
        [j.a, j.b].forEach(function (x) { if (x !== null && !seen[x]) { seen[x] = true; ids.push(x); } });
      });
      ids.sort(function (x, y) {
        return String(D.answers[x].model).localeCompare(String(D.answers[y].model));
      });
      var grid = el("div", "answers");
      ids.forEach(function (x) {
        var box = el("div", "answer");
        box.appendChild(el("h4", null, D.answers[x].model || "answer"));
        box.appendChild(el("div", "text", D.answers[x].text === null ? "(no text)" : D.answers[x].text));
        grid.appendChild(box);
      });
      sec.appendChild(grid);
      turns[t].forEach(function (j) { sec.appendChild(judgment(j)); });
      card.appendChild(sec);
    });
    return card;
  }
  function render() {
    var hits = [], n = 0, needle = state.text.toLowerCase();
    for (var i = 0; i < D.questions.length; i++) {
      if (needle && D.questions[i].search.indexOf(needle) < 0) { continue; }
      var js = byQuestion[i].filter(matches);
      if (js.length) { hits.push([i, js]); n += js.length; }
    }
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var main = $("questions");
    main.replaceChildren();
    hits.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (h) {
      main.appendChild(question(h[0], h[1]));
    });
    $("status").textContent = hits.length
      ? n + " judgments on " + hits.length + " questions match" : "No judgments match these filters.";
    document.querySelectorAll(".pager").forEach(function (p) {
      p.hidden = pages < 2;
      p.querySelector(".page").textContent = "page " + (state.page + 1) + " of " + pages;
      p.querySelector(".prev").disabled = state.page === 0;
      p.querySelector(".next").disabled = state.page >= pages - 1;
    });
  }
  var flagged = D.judgments.filter(function (j) { return j.dj || j.do; }).length;
  $("summary").textContent = D.judgments.length + " judgments by " + D.judges.length + " judges on " +
    D.questions.length + " questions; " + flagged + " where judges or orders disagree. Written " +
    D.generated_at + ".";
  fill($("f-judge"), "judges", D.judges);
  fill($("f-model"), "models", D.models);
  fill($("f-category"), "categories", D.categories);
  [["f-judge", "judge"], ["f-model", "model"], ["f-category", "category"]].forEach(function (f) {
    $(f[0]).addEventListener("change", function (e) {
      state[f[1]] = e.target.value; state.page = 0; render();
    });
  });
  $("f-text").addEventListener("input", function (e) {
    state.text = e.target.value; state.page = 0; render();
  });
  $("f-disagree").addEventListener("change", function (e) {
    state.disagree = e.target.checked; state.page = 0; render();
  });
  document.querySelectorAll(".pager .prev").forEach(function (b) {
    b.addEventListener("click", function () { state.page -= 1; render(); window.scrollTo(0, 0); });
  });
  document.querySelectorAll(".pager .next").forEach(function (b) {
    b.addEventListener("click", function () { state.page += 1; render(); window.scrollTo(0, 0); });
  });
  render();
})();
"""
