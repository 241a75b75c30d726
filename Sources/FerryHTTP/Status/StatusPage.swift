/// The one HTML page of `GET /`: no external assets (styles and script inline), and a script that
/// fetches `/status.json` every second and redraws figures and tables in place, without a reload.
///
/// Data never goes through `innerHTML`: every cell is made with `createElement` and filled with
/// `textContent`, so a file named `<img src=x onerror=…>` shows as that text. The server sends the
/// page with a Content-Security-Policy that allows only its own inline code and fetches to itself.
public enum StatusPage {
    /// The header sent with the page.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'"

    public static func html(title: String) -> String {
        let title = HTMLEscaping.escape(title)
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title)</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
        h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.2em 0 .4em}
        #health{padding:.2em .6em;border-radius:4px;display:inline-block}
        .ok{background:#d9f2d9} .bad{background:#f8d7d7} .stale{opacity:.5}
        #figures{display:flex;flex-wrap:wrap;gap:.6em;margin:.8em 0}
        .figure{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.4em .8em}
        .figure b{display:block;font-size:1.3em}
        table{border-collapse:collapse;background:#fff;min-width:30em}
        th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;max-width:40em;overflow-wrap:anywhere}
        progress{width:10em}
        </style></head>
        <body>
        <h1>\(title)</h1>
        <div id="health">loading…</div>
        <div id="figures"></div>
        <div id="tables"></div>
        <script>
        "use strict";
        function el(tag, text, cls) {
          const e = document.createElement(tag);
          if (text !== undefined) e.textContent = String(text);
          if (cls) e.className = cls;
          return e;
        }
        function draw(s) {
          const health = document.getElementById("health");
          health.textContent = (s.healthy ? "healthy: " : "unhealthy: ") + s.health;
          health.className = s.healthy ? "ok" : "bad";
          const figures = document.getElementById("figures");
          figures.replaceChildren(...s.figures.map(f => {
            const d = el("div", undefined, "figure");
            d.append(el("b", f.value), el("span", f.label));
            return d;
          }));
          const tables = document.getElementById("tables");
          tables.replaceChildren(...s.tables.flatMap(t => {
            const heading = el("h2", t.title);
            if (t.rows.length === 0) return [heading, el("p", t.empty)];
            const table = el("table");
            const head = el("tr");
            for (const c of t.columns) head.append(el("th", c));
            table.append(head);
            for (const r of t.rows) {
              const tr = el("tr");
              for (const c of r.cells) tr.append(el("td", c));
              if (r.progress !== undefined && r.progress !== null) {
                const td = el("td"), bar = el("progress");
                bar.max = 1; bar.value = r.progress;
                td.append(bar); tr.append(td);
              }
              table.append(tr);
            }
            return [heading, table];
          }));
          document.body.classList.remove("stale");
        }
        async function refresh() {
          try {
            const response = await fetch("/status.json", {cache: "no-store"});
            if (!response.ok) throw new Error("HTTP " + response.status);
            draw(await response.json());
          } catch (e) {
            document.body.classList.add("stale");
            const health = document.getElementById("health");
            health.textContent = "no answer from the server: " + e.message;
            health.className = "bad";
          }
          setTimeout(refresh, 1000);
        }
        refresh();
        </script>
        </body></html>

        """
    }
}
