// Starts Swagger UI on the document the service serves. Kept out of
// index.html so that a Content-Security-Policy of script-src 'self' holds.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    // The default validator badge calls an external service; the docs page
    // must work without leaving the host.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
