/* LeadFlow capture form: paste the script tag shown on the form's page in LeadFlow where the form should appear.
   Every value below is a JSON literal: nothing from the form's settings is written into this comment or the code. */
(function () {
  "use strict";
  var frameUrl = {{ frame_url|tojson }};
  var formName = {{ form.name|tojson }};
  var formSlug = {{ form.slug|tojson }};
  var trackingKeys = {{ tracking_keys|list|tojson }};
  var frameOrigin = new URL(frameUrl).origin;
  var script = document.currentScript ||
    document.querySelector('script[src*="/f/' + formSlug + '/embed.js"]');
  if (!script) return;

  // The form is told where the visitor is: this page, where they came from, and its campaign tags.
  var query = new URLSearchParams({ embed: "1", landing_page: window.location.href });
  if (document.referrer) query.set("referrer", document.referrer);
  var here = new URLSearchParams(window.location.search);
  trackingKeys.forEach(function (key) {
    if (key.indexOf("utm_") === 0 && here.get(key)) query.set(key, here.get(key));
  });

  var frame = document.createElement("iframe");
  frame.src = frameUrl + "?" + query.toString();
  frame.title = formName;
  frame.loading = "lazy";
  frame.setAttribute("data-leadflow-form", formSlug);
  frame.style.cssText = "display:block;width:100%;max-width:40rem;border:0;height:24rem;overflow:hidden;";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== frameOrigin || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "leadflow:resize" && typeof data.height === "number") {
      frame.style.height = Math.min(Math.max(data.height, 100), 10000) + 20 + "px";
    } else if (data.type === "leadflow:redirect" && /^https?:\/\//i.test(String(data.url))) {
      window.location.assign(data.url);
    }
  });
})();
