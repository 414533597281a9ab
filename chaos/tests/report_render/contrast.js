// Injected into a copy of report.html by report_render.rs: measures, for every element
// that shows text (HTML text and SVG <text>), its text colour and the colour painted
// behind it (every layer at the text's centre, composited, over the white canvas), and
// writes the WCAG contrast ratios as JSON into <pre id="contrast-results">, which the
// test reads from chromium's --dump-dom.
(function () {
  function parse(css) {
    var m = /rgba?\(([^)]*)\)/.exec(css || "");
    if (!m) return null;
    var p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function channel(v) {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }
  function luminance(c) {
    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  }
  function over(top, bottom) {
    var a = top.a;
    return { r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a),
             b: top.b * a + bottom.b * (1 - a), a: 1 };
  }
  function opacity(el) {
    var o = 1;
    for (var e = el; e && e.nodeType === 1; e = e.parentNode) o *= parseFloat(getComputedStyle(e).opacity);
    return o;
  }
  var NO_PAINT = { text: 1, tspan: 1, g: 1, title: 1, line: 1, polyline: 1 };
  // The colour an element paints behind a point inside it, or null.
  function paint(el) {
    var cs = getComputedStyle(el), c;
    if (el instanceof SVGElement && el.tagName !== "svg") {
      if (NO_PAINT[el.tagName]) return null;
      c = parse(cs.fill);
      if (!c) return null;
      c.a *= parseFloat(cs.fillOpacity);
    } else {
      c = parse(cs.backgroundColor);
      if (!c || c.a === 0) return null;
    }
    c.a *= opacity(el);
    return c;
  }
  function textColour(el) {
    var cs = getComputedStyle(el), c;
    if (el instanceof SVGElement) {
      c = parse(cs.fill);
      if (!c) return null;
      c.a *= parseFloat(cs.fillOpacity);
    } else {
      c = parse(cs.color);
    }
    c.a *= opacity(el);
    return c;
  }
  function ownText(el) {
    var t = "";
    for (var n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 3) t += n.nodeValue;
    return t.trim();
  }
  function section(el) {
    var s = el.closest("section");
    var h = s && s.querySelector("h2, summary");
    return h ? h.textContent.trim() : (el.closest("header") ? "header" : (el.closest("footer") ? "footer" : "page"));
  }
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var results = [], skipped = 0;
  document.querySelectorAll("body *").forEach(function (el) {
    if (el.closest("title, style, script, #contrast-results")) return;
    var text = ownText(el);
    if (!text) return;
    var node = null;
    for (var n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 3 && n.nodeValue.trim()) { node = n; break; }
    el.scrollIntoView({ block: "center", inline: "center" });
    var range = document.createRange();
    range.selectNodeContents(node);
    var rect = range.getClientRects()[0] || el.getBoundingClientRect();
    if (!rect || rect.width === 0 || rect.height === 0) { skipped++; return; }
    var x = rect.left + Math.min(rect.width / 2, 6), y = rect.top + rect.height / 2;
    var stack = document.elementsFromPoint(x, y);
    var at = stack.indexOf(el);
    if (at < 0) at = 0;
    var layers = [];
    for (var i = at; i < stack.length; i++) {
      var c = paint(stack[i]);
      if (c) { layers.push(c); if (c.a >= 0.999) break; }
    }
    var bg = { r: 255, g: 255, b: 255, a: 1 };
    for (var k = layers.length - 1; k >= 0; k--) bg = over(layers[k], bg);
    var fg = textColour(el);
    if (!fg) { skipped++; return; }
    fg = over(fg, bg);
    var l1 = luminance(fg), l2 = luminance(bg);
    var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    var cs = getComputedStyle(el);
    var size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    var large = size >= 24 || (bold && size >= 18.66);
    var round = function (c) { return [Math.round(c.r), Math.round(c.g), Math.round(c.b)]; };
    results.push({ section: section(el), tag: el.tagName, cls: el.getAttribute("class") || "",
                   text: text.slice(0, 60), fg: round(fg), bg: round(bg),
                   ratio: Math.round(ratio * 100) / 100, required: large ? 3 : 4.5 });
  });
  var out = document.createElement("pre");
  out.id = "contrast-results";
  // The markers are split so that the script's own text (also in the DOM) holds neither.
  out.textContent = "CONTRAST-" + "BEGIN" + JSON.stringify({ results: results, skipped: skipped }) + "CONTRAST-" + "END";
  document.body.appendChild(out);
})();
