/* Article Q&A chat widget. Embed it on any page with one tag:
 *   <script src="https://bot.example.org/widget.js" data-key="pk_..." data-title="Ask the article" defer></script>
 * This file is a classic script (so a plain <script defer> tag works everywhere); it loads the
 * widget's ES modules from the same place it was itself loaded from, so every URL it uses is
 * absolute and the widget works on any origin the server allows. */
(() => {
  "use strict";
  const script =
    document.currentScript ||
    Array.from(document.querySelectorAll("script[src]")).find((s) => /\/widget\.js(?:[?#]|$)/.test(s.src));
  if (!script || script.dataset.qaWidget) return;
  script.dataset.qaWidget = "loading";
  const base = new URL(".", script.src).href;
  import(new URL("widget/app.js", base).href)
    .then((app) => {
      app.mount(script, base);
      script.dataset.qaWidget = "ready";
    })
    .catch((error) => {
      script.dataset.qaWidget = "failed";
      console.error("qa-widget: could not load", error);
    });
})();
