// Starts Swagger UI on the spec named by the page's data-spec-url. It lives in
// a file rather than inline so the page's Content-Security-Policy can forbid
// inline scripts.
window.addEventListener('load', function () {
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // null turns off the badge that would send the spec to an online validator.
    validatorUrl: null,
  });
});
