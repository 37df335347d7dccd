// Starts Swagger UI on the spec named by the page's data-spec-url. It lives in
// a file rather than inline so the page's Content-Security-Policy can forbid
// inline scripts.
//
// Swagger UI prefills "Try it out" from each parameter's example. A value
// the server issues (a cursor, an ETag) or one that must be unique (an
// Idempotency-Key) fails the call when prefilled, so parameters marked
// `x-docs-prefill: false` in the spec lose their example here, on the page
// only: the spec served to SDK generators keeps it.
window.addEventListener('load', function () {
  var root = document.getElementById('swagger-ui');

  function noPrefill(p) {
    if (!p || p['x-docs-prefill'] !== false) return;
    delete p.example;
    delete p.examples;
    if (p.schema) delete p.schema.example;
  }

  function start(spec) {
    var params = (spec.components && spec.components.parameters) || {};
    Object.keys(params).forEach(function (k) { noPrefill(params[k]); });
    Object.keys(spec.paths || {}).forEach(function (path) {
      var item = spec.paths[path];
      (item.parameters || []).forEach(noPrefill);
      Object.keys(item).forEach(function (method) {
        if (item[method] && Array.isArray(item[method].parameters)) item[method].parameters.forEach(noPrefill);
      });
    });
    window.ui = SwaggerUIBundle({
      spec: spec,
      domNode: root,
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: 'BaseLayout',
      // null turns off the badge that would send the spec to an online validator.
      validatorUrl: null,
    });
  }

  fetch(root.dataset.specUrl, { headers: { Accept: 'application/json' } })
    .then(function (r) {
      if (!r.ok) throw new Error('GET ' + root.dataset.specUrl + ': ' + r.status);
      return r.json();
    })
    .then(start, function (err) {
      root.textContent = 'Could not load the API description: ' + err.message;
    });
});
